package testmodel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"cxrview/engine/cxr"
	"cxrview/engine/quant"
)

// cancelAfter is a context that reports itself cancelled from its n-th
// Err call on, so that a write stops part-way through a file.
type cancelAfter struct {
	context.Context
	n atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestGenerateCancelled: a write stopped part-way leaves neither the file
// nor its temporary file.
func TestGenerateCancelled(t *testing.T) {
	s, err := Lookup("tiny")
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []int32{0, 3, 10} {
		dir := t.TempDir()
		ctx := &cancelAfter{Context: context.Background()}
		ctx.n.Store(after)
		if _, err := GenerateContext(ctx, dir, s, quant.F16, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled after %d tensors: err %v", after, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			t.Errorf("cancelled after %d tensors: %s was left behind", after, e.Name())
		}
	}
	dir := t.TempDir()
	p, err := GenerateContext(context.Background(), dir, s, quant.F16, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.Text, p.Projector} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, cxr.TempPattern)); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
