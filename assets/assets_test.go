package assets

import (
	"strings"
	"testing"
)

func TestPrompts(t *testing.T) {
	for _, name := range []string{"cxr-system", "report", "ddx", "vicuna-system"} {
		s, err := Prompt(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(s) == "" {
			t.Errorf("prompt %s is empty", name)
		}
	}
	if _, err := Prompt("nonexistent"); err == nil {
		t.Error("a missing prompt gave no error")
	}
	// The report prompt must name the six findings the paper evaluates.
	report := MustPrompt("report")
	for _, f := range []string{"atelectasis", "cardiomegaly", "consolidation", "pulmonary edema", "pleural effusion", "pneumothorax"} {
		if !strings.Contains(report, f) {
			t.Errorf("report prompt lacks %q", f)
		}
	}
}
