//go:build linux

package convert

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"cxrview/engine/convert/converttest"
)

// midShape is a checkpoint of about 0.5 GB whose largest tensors (token
// embedding and output head, 32,000 × 2,048) are half the real ones.
func midShape() converttest.Shape {
	s := converttest.Slice7B()
	s.Embd, s.FF, s.Heads, s.HeadsKV = 2048, 5504, 16, 16
	return s
}

// convertProcess runs the converter's command line in a process of its own
// (this test binary) and returns its peak resident memory and duration.
func convertProcess(t testing.TB, from, out, typ string) (peak int64, took time.Duration) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--from", from, "--out", out, "--type", typ, "--quiet")
	cmd.Env = append(os.Environ(), "CXRVIEW_TEST_CONVERT=1", "CXRVIEW_TEST_RUNNER=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	begin := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("convert: %v: %s", err, stderr.String())
	}
	took = time.Since(begin)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return ru.Maxrss * 1024, took
}

// The converter streams: its peak memory stays below the size of the
// largest tensor in float32, let alone the checkpoint's, whatever the
// checkpoint's size. (A converter that loads a tensor whole needs at least
// 262 MB here; one that loads the checkpoint, gigabytes.)
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and converts a 0.5 GB checkpoint")
	}
	dir := t.TempDir()
	s := midShape()
	ck, err := converttest.Write(filepath.Join(dir, "ckpt"), s, 1)
	if err != nil {
		t.Fatal(err)
	}
	largestF32 := int64(s.Vocab) * int64(s.Embd) * 4
	peak, took := convertProcess(t, ck.Dir, filepath.Join(dir, "out"), "q4_k_m")
	t.Logf("checkpoint %.0f MB (bf16); q4_k_m conversion: peak RSS %.0f MB, %.1f s", float64(ck.Bytes)/1e6, float64(peak)/1e6, took.Seconds())
	if peak >= largestF32 {
		t.Errorf("peak RSS %d MB while converting a %d MB checkpoint: at least one tensor was held whole (%d MB in float32)",
			peak>>20, ck.Bytes>>20, largestF32>>20)
	}
}

// BenchmarkConvert converts a checkpoint with the real model's widths:
// CXRVIEW_BENCH_SHAPE=slice7b (2 GB: LLaMA-2-7B and ViT-L widths, two
// layers each) or the 0.5 GB default. It reports peak RSS and throughput;
// docs/model.md extrapolates them to the 14 GB checkpoint.
func BenchmarkConvert(b *testing.B) {
	s, name := midShape(), "mid"
	if os.Getenv("CXRVIEW_BENCH_SHAPE") == "slice7b" {
		s, name = converttest.Slice7B(), "slice7b"
	}
	dir := b.TempDir()
	ck, err := converttest.Write(filepath.Join(dir, "ckpt"), s, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, typ := range []string{"q4_k_m", "q8_0", "f16"} {
		b.Run(name+"/"+typ, func(b *testing.B) {
			var peak int64
			var took time.Duration
			for i := 0; i < b.N; i++ {
				out := filepath.Join(dir, "out")
				p, d := convertProcess(b, ck.Dir, out, typ)
				peak, took = max(peak, p), took+d
				os.RemoveAll(out)
			}
			b.ReportMetric(float64(peak)/1e6, "peak-RSS-MB")
			b.ReportMetric(float64(ck.Bytes)/1e6/(took.Seconds()/float64(b.N)), "source-MB/s")
		})
	}
}
