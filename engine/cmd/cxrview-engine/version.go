package main

import (
	"encoding/json"
	"fmt"
	"os"

	"cxrview/engine/llm"
)

// version prints what the runner would report: versions and the backends
// that load with the current environment.
func version(args []string) int {
	info := llm.Runtime()
	if len(args) > 0 && args[0] == "--json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(info)
		return 0
	}
	fmt.Printf("llama.cpp %s (ollama module %s), CPU code: %s\n", info.LlamaCommit, info.OllamaVersion, info.CPUVariant)
	for _, d := range info.Devices {
		fmt.Printf("  %-6s %s: %s\n", d.Kind, d.Name, d.Description)
	}
	return 0
}
