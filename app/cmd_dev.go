package app

import "context"

// runDev passes developer tools to the engine binary, which links the ggml
// code they need (quantization).
func runDev(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || IsHelp(args[0]) {
		const help = "usage: cxrview dev testmodel --out DIR [--shape tiny|tiny-llava|cxr7b|llava7b] [--type f16|q8_0|q4_k_m] [--seed N] [--if-missing]\n\n" +
			"Writes a random-weight model pair for tests and benchmarks; its text is never a report.\n"
		env.Stdout.Write([]byte(help))
		return nil
	}
	switch args[0] {
	case "testmodel":
		return runEngineTool(ctx, env, args...)
	}
	return usageError("unknown developer tool %q", args[0])
}

// runRunner starts the inference runner on this process's streams, as the
// viewer does; it is here for diagnosis (`cxrview runner` speaks the
// protocol of package engine on stdin and stdout).
func runRunner(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && IsHelp(args[0]) {
		env.Stdout.Write([]byte("usage: cxrview runner\n\nThe inference runner: the viewer and `cxrview report` start it themselves.\n" +
			"It reads protocol requests (JSON lines) on stdin and answers on stdout.\n"))
		return nil
	}
	return runEngineTool(ctx, env, append([]string{"runner"}, args...)...)
}
