package llm

import (
	"bufio"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

var cpuLibRe = regexp.MustCompile(`libggml-cpu-([A-Za-z0-9_]+)\.(so|dylib|dll)`)

// loadedCPUVariant names the ggml CPU backend library mapped into this
// process (libggml-cpu-icelake.so → "icelake"), or "" when none loaded and
// only the built-in baseline code runs. On systems without /proc it is "".
func loadedCPUVariant() string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return ""
	}
	if m := cpuLibRe.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// physicalCores counts cores, not hardware threads: llama.cpp's compute
// threads contend for the same execution units otherwise.
func physicalCores() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	defer f.Close()
	cores := map[string]bool{}
	var phys, core string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if phys != "" || core != "" {
				cores[phys+"/"+core] = true
			}
			phys, core = "", ""
			continue
		}
		switch strings.TrimSpace(k) {
		case "physical id":
			phys = strings.TrimSpace(v)
		case "core id":
			core = strings.TrimSpace(v)
		}
	}
	if phys != "" || core != "" {
		cores[phys+"/"+core] = true
	}
	if n := len(cores); n > 0 && n <= runtime.NumCPU() {
		return n
	}
	return runtime.NumCPU()
}

// peakRSS is the process's high-water resident memory in bytes (Linux), 0
// where unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, _ := strconv.ParseInt(fields[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
