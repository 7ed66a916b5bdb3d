package app

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"equal", "a\nb", "a\nb", ""},
		{"change one line", "a\nb\nc", "a\nB\nc", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"append", "a", "a\nb", "@@ -1 +1,2 @@\n a\n+b\n"},
		{"from empty", "", "Findings: clear.", "@@ -1 +1 @@\n-\n+Findings: clear.\n"},
		{"trailing newline only", "a", "a\n", "@@ -1 +1,2 @@\n a\n+\n"},
		{"far apart changes make two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9", "x\n2\n3\n4\n5\n6\n7\n8\ny",
			"@@ -1,3 +1,3 @@\n-1\n+x\n 2\n 3\n@@ -7,3 +7,3 @@\n 7\n 8\n-9\n+y\n"},
		{"near changes share a hunk", "1\n2\n3\n4\n5", "x\n2\n3\n4\ny", "@@ -1,5 +1,5 @@\n-1\n+x\n 2\n 3\n 4\n-5\n+y\n"},
		{"delete everything", "a\nb", "", "@@ -1,2 +1 @@\n-a\n-b\n+\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.old, tc.new)
			if got != tc.want {
				t.Errorf("Diff:\n%s\nwant:\n%s", got, tc.want)
			}
			back, err := Patch(tc.old, got)
			if err != nil || back != tc.new {
				t.Errorf("Patch gives %q (%v), want %q", back, err, tc.new)
			}
		})
	}
}

// TestDiffRoundTrip edits random reports in random ways; patching the old
// text with the diff must give the new one exactly.
func TestDiffRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"Findings:", "heart", "normal", "", "effusion", "Impression:", "no", "pneumothorax", "\r", "é"}
	line := func() string {
		n := r.IntN(4)
		var w []string
		for range n {
			w = append(w, words[r.IntN(len(words))])
		}
		return strings.Join(w, " ")
	}
	for i := range 2000 {
		var a []string
		for range r.IntN(12) {
			a = append(a, line())
		}
		b := append([]string(nil), a...)
		for range r.IntN(5) {
			switch k := r.IntN(3); {
			case k == 0 || len(b) == 0:
				p := r.IntN(len(b) + 1)
				b = append(b[:p], append([]string{line()}, b[p:]...)...)
			case k == 1:
				p := r.IntN(len(b))
				b = append(b[:p], b[p+1:]...)
			default:
				b[r.IntN(len(b))] = line()
			}
		}
		old, nw := strings.Join(a, "\n"), strings.Join(b, "\n")
		d := Diff(old, nw)
		got, err := Patch(old, d)
		if err != nil || got != nw {
			t.Fatalf("case %d: %q → %q\ndiff:\n%s\npatched %q, %v", i, old, nw, d, got, err)
		}
		if (d == "") != (old == nw) {
			t.Fatalf("case %d: empty diff for different texts or the reverse", i)
		}
	}
}

func TestDiffLargeTexts(t *testing.T) {
	// Past the LCS table limit the middle becomes one replacement, still exact.
	var a, b []string
	for i := range 3000 {
		a = append(a, strings.Repeat("x", i%7))
		b = append(b, strings.Repeat("y", i%5))
	}
	old, nw := "head\n"+strings.Join(a, "\n")+"\ntail", "head\n"+strings.Join(b, "\n")+"\ntail"
	got, err := Patch(old, Diff(old, nw))
	if err != nil || got != nw {
		t.Fatalf("large diff does not round-trip: %v", err)
	}
}

func TestPatchRejectsWrongBase(t *testing.T) {
	d := Diff("a\nb\nc", "a\nB\nc")
	for _, base := range []string{"a\nX\nc", "", "a"} {
		if _, err := Patch(base, d); err == nil {
			t.Errorf("patch applied to %q", base)
		}
	}
	for _, bad := range []string{"not a diff", "@@ -x +1 @@\n", "@@ -1 +1 @@\n?odd\n"} {
		if _, err := Patch("a", bad); err == nil {
			t.Errorf("bad diff %q accepted", bad)
		}
	}
}

func FuzzDiff(f *testing.F) {
	f.Add("Findings: normal.\nImpression: none.", "Findings: enlarged heart.\nImpression: cardiomegaly.\n")
	f.Add("", "\n\n")
	f.Fuzz(func(t *testing.T, old, nw string) {
		got, err := Patch(old, Diff(old, nw))
		if err != nil || got != nw {
			t.Fatalf("round trip: %q → %q: %q, %v", old, nw, got, err)
		}
	})
}

// FuzzPatch feeds Patch arbitrary diffs: errors are fine, panics are not.
func FuzzPatch(f *testing.F) {
	f.Add("a\nb\nc", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n")
	f.Add("a", "@@ -0,0 +5,2 @@\n+x\n")
	f.Fuzz(func(t *testing.T, old, diff string) {
		Patch(old, diff)
	})
}
