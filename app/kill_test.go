package app

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary double as the typing process of
// TestSIGKILLWhileTyping.
func TestMain(m *testing.M) {
	if os.Getenv("CXRVIEW_TYPING_HELPER") == "1" {
		typeForever()
		return
	}
	os.Exit(m.Run())
}

// typeForever is the child: it types into a session with the real clock
// and the default autosave timing, one character every 20 ms, and prints
// the length typed after each, until it is killed.
func typeForever() {
	st, err := OpenStudy(os.Getenv("CXRVIEW_TYPING_FILM"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := OpenSession(Dirs{Data: os.Getenv("CXRVIEW_TYPING_DATA")}, st, SessionOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	text := ""
	for i := 0; ; i++ {
		text += string(rune('a' + i%26))
		s.SetText(text)
		fmt.Println(len(text))
		time.Sleep(20 * time.Millisecond)
	}
}

func typed(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteRune(rune('a' + i%26))
	}
	return b.String()
}

// TestSIGKILLWhileTyping kills a process with SIGKILL while it types and
// checks that everything typed more than 2 s before the kill is restored.
func TestSIGKILLWhileTyping(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a process for 3.5 s")
	}
	st := pngStudy(t)
	dirs := testDirs(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CXRVIEW_TYPING_HELPER=1", "CXRVIEW_TYPING_FILM="+st.Path, "CXRVIEW_TYPING_DATA="+dirs.Data)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		n  int
		at time.Time
	}
	var (
		mu    sync.Mutex
		lines []seen
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n, err := strconv.Atoi(sc.Text())
			if err != nil {
				continue
			}
			mu.Lock()
			lines = append(lines, seen{n, time.Now()})
			mu.Unlock()
		}
	}()
	// Type for 3.5 s after the first character, then kill.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		started := len(lines) > 0 && time.Since(lines[0].at) > 3500*time.Millisecond
		mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the typing process did not type: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	cmd.Wait()
	<-done

	// A character is certainly typed by the time its line arrives, so the
	// lines that arrived 2 s before the kill are a safe lower bound.
	need := 0
	mu.Lock()
	last := lines[len(lines)-1].n
	for _, l := range lines {
		if !l.at.After(killed.Add(-2 * time.Second)) {
			need = l.n
		}
	}
	mu.Unlock()
	dr, err := LoadDraft(dirs, st.Key)
	if err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	if len(dr.Text) < need || !strings.HasPrefix(typed(last+1), dr.Text) {
		t.Fatalf("restored %d characters (%q…); %d were typed 2 s before the kill, %d in all", len(dr.Text), dr.Text[:min(len(dr.Text), 20)], need, last)
	}
	t.Logf("typed %d characters, %d of them 2 s before SIGKILL; %d restored", last, need, len(dr.Text))
	if need < 50 {
		t.Errorf("only %d characters were typed before the 2 s mark: the test did not exercise much", need)
	}
}
