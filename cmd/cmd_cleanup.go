package cmd

import (
	"errors"
	"fmt"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

func newCleanupCommand(d appDeps) *cli.Command {
	return &cli.Command{
		Name:      "cleanup",
		Usage:     "undo the host changes (default route, DNS) of an l2tpctl that was killed before it could",
		UsageText: "l2tpctl cleanup [--interface NAME]",
		Description: "l2tpctl records each change it makes to the host in /run/l2tpctl/ before making it,\n" +
			"and undoes them on every exit it sees. After SIGKILL or a crash, this command (or the\n" +
			"next 'l2tpctl connect' on the same interface) puts back the old default route, removes\n" +
			"the route to the server and restores /etc/resolv.conf. Without --interface it repairs\n" +
			"every interface of this network namespace. An interface whose l2tpctl still runs is\n" +
			"left alone (exit status 1).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flgInterface, Usage: "only the TUN interface `NAME`"},
		},
		OnUsageError: onUsageError,
		Before:       checkNoArgs,
		Action: func(c *cli.Context) error {
			done, err := d.cleanup(c.String(flgInterface))
			for _, line := range done {
				fmt.Fprintln(d.stdout, oneLine(line))
			}
			var inUse *tunnel.InUseError
			switch {
			case err == nil && len(done) == 0:
				fmt.Fprintln(d.stdout, "nothing to clean up")
			case errors.Is(err, tunnel.ErrConfig):
				return &usageError{err}
			case errors.As(err, &inUse):
				return cli.Exit(err.Error(), exitFailure)
			}
			return err
		},
	}
}
