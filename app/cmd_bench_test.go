package app

import (
	"encoding/json"
	"strings"
	"testing"

	"cxrview/app/apptest"
)

// TestBenchModelCache: the benchmark model is written once whatever the
// case of --type, found again the next time, and the cancel timing is
// real; a bad shape fails with the shape named.
func TestBenchModelCache(t *testing.T) {
	t.Setenv("CXRVIEW_ENGINE", apptest.EngineBinary(t))
	env, out, errb := testEnv(t)
	for i, typ := range []string{"Q8_0", "q8_0"} {
		if code := run(t, env, "bench", "--shape", "tiny", "--type", typ, "--tokens", "8", "--json"); code != 0 {
			t.Fatalf("bench --type %s: exit %d: %s", typ, code, errb)
		}
		if wrote := strings.Contains(errb.String(), "writing the random-weight"); wrote != (i == 0) {
			t.Errorf("bench --type %s, run %d: model written %v:\n%s", typ, i+1, wrote, errb)
		}
		var b benchResult
		if err := json.Unmarshal(out.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		if b.Type != "q8_0" || b.GenTokens != 8 {
			t.Errorf("bench --type %s: %+v", typ, b)
		}
		// A cancel that never happened used to print the time since year 1.
		if b.CancelReturnMS <= 0 || b.CancelReturnMS > b.CancelIdleMS || b.CancelIdleMS > 60e3 {
			t.Errorf("cancel: returned after %v ms, idle after %v ms", b.CancelReturnMS, b.CancelIdleMS)
		}
	}
	if code := run(t, env, "bench", "--shape", "tiny7b", "--tokens", "8"); code != 2 || !strings.Contains(errb.String(), `unknown model shape "tiny7b"`) {
		t.Errorf("bad shape: exit %d: %s", code, errb)
	}
}
