package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

func newVersionCommand(d appDeps, version string) *cli.Command {
	return &cli.Command{
		Name:         "version",
		Usage:        "print l2tpctl's version and the Go version it was built with",
		UsageText:    "l2tpctl version",
		OnUsageError: onUsageError,
		Before:       checkNoArgs,
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(d.stdout, "l2tpctl %s (%s %s/%s)\n",
				versionString(version), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// versionString is the version set at link time (-X main.version=…), else
// the module version when built with "go install …@version", else "dev".
func versionString(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
