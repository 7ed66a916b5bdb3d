// Package llm is the runner: the child process that owns llama.cpp, loads a
// LLaVA-style model pair, encodes images and generates text, answering the
// protocol of package engine on its standard input and output.
package llm
