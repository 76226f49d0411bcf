package cmd

import (
	"fmt"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

func newDisconnectCommand(d appDeps) *cli.Command {
	return &cli.Command{
		Name:      "disconnect",
		Usage:     "end a running connection and wait for its teardown",
		UsageText: "l2tpctl disconnect [--interface NAME]",
		Description: "Asks the connection on interface NAME, through its control socket\n" +
			defaultRunDir + "/NAME.sock (NAME@net-INODE.sock outside the host's network\n" +
			"namespace), to end, and returns once it has torn down (PPP, L2TP and IKE\n" +
			"closed, interface removed).\n\n" +
			"Exit status: 0 once torn down, 3 when no connection runs on NAME, 1 for other errors.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flgInterface, Value: tunnel.DefaultInterface, Usage: "TUN interface `NAME` of the connection"},
		},
		OnUsageError: onUsageError,
		Before:       checkNoArgs,
		Action: func(c *cli.Context) error {
			path, err := socketFor(c, d)
			if err != nil {
				return err
			}
			if err := d.disconnect(c.Context, path); err != nil {
				return controlError(c.String(flgInterface), err)
			}
			fmt.Fprintf(d.stdout, "%s: disconnected\n", c.String(flgInterface))
			return nil
		},
	}
}
