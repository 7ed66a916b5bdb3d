//go:build !unix

package llm

import "os"

// protocolOutput is stdout itself where descriptors cannot be rearranged.
func protocolOutput() (*os.File, error) { return os.Stdout, nil }
