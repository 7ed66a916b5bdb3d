package engine_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cxrview/engine"
	"cxrview/engine/llm"
)

// testRunner is the runner the tests start: the real one (llm.Main), with
// options that make the process misbehave the way GPU drivers, slow disks
// and dying processes do, so that the client's handling of them can be
// tested without a GPU. The options filter the requests on their way to
// the real runner.
func testRunner(args []string) int {
	fs := flag.NewFlagSet("test runner", flag.ContinueOnError)
	starts := fs.String("starts", "", "append this process's id to `file` when it starts")
	abortGPU := fs.Bool("abort-gpu-loads", false, "abort, as a failing GPU backend does, on a load with GPU layers")
	slowLoad := fs.String("slow-load-once", "", "if `file` exists, remove it and hold the next load for 12 s, as a big model on a slow disk")
	closeIn := fs.Bool("close-stdin-at-load", false, "stop reading requests after a load (which is answered), and keep running")
	slowHello := fs.Duration("slow-hello", 0, "answer hello after this long")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || fs.Arg(0) != "runner" {
		fmt.Fprintln(os.Stderr, "test runner: bad arguments", args)
		return 2
	}
	if *starts != "" {
		f, err := os.OpenFile(*starts, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "test runner:", err)
			return 1
		}
		fmt.Fprintln(f, os.Getpid())
		f.Close()
	}
	if !*abortGPU && *slowLoad == "" && !*closeIn && *slowHello == 0 {
		return llm.Main()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test runner:", err)
		return 1
	}
	in := os.Stdin
	os.Stdin = pr // llm.Main reads the filtered requests
	go func() {
		br := bufio.NewReaderSize(in, 1<<20)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				pw.Close()
				return
			}
			var m engine.Message
			json.Unmarshal(line, &m)
			switch {
			case m.Op == engine.OpHello:
				time.Sleep(*slowHello)
			case m.Op == engine.OpLoad && *closeIn:
				// Answer the load, but leave the client's next request
				// without a reader, the process still running.
				in.Close()
				pw.Write(line)
				select {}
			case m.Op == engine.OpLoad && *abortGPU && m.Load != nil && m.Load.GPULayers != 0:
				fmt.Fprintln(os.Stderr, "CUDA error: out of memory (test runner)")
				p, _ := os.FindProcess(os.Getpid())
				p.Signal(syscall.SIGABRT)
				select {}
			case m.Op == engine.OpLoad && *slowLoad != "":
				if os.Remove(*slowLoad) == nil {
					time.Sleep(12 * time.Second)
				}
			}
			pw.Write(line)
		}
	}()
	return llm.Main()
}

// startedPIDs reads the process ids a runner started with -starts wrote.
func startedPIDs(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		pids = append(pids, n)
	}
	return pids
}
