// Package engine runs multimodal models: a client starts and talks to a
// runner process that owns llama.cpp (or to an Ollama server), so that a
// crash in native code never takes the caller down.
package engine
