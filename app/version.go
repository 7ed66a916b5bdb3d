package app

import (
	"context"
	"fmt"
)

func runVersion(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "version", "[--json]", "Print cxrview's version, the inference library versions and the compute backends that load.")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	_ = jsonOut
	fmt.Fprintf(env.Stdout, "cxrview %s\n", env.Version)
	return nil
}
