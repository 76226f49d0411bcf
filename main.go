// Command l2tpctl is a userspace L2TP/IPsec VPN client; see "l2tpctl --help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/l2tpctl/l2tpctl/cmd"
)

// version is set at link time: go build -ldflags "-X main.version=v0.1.0".
var version string

func main() {
	// SIGINT/SIGTERM cancel ctx: tunnel.Run tears down (with its own short
	// deadlines) and returns. Further signals are ignored until then, so an
	// impatient second ^C cannot leave the TUN, routes or server state behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd.NewApp(version).RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, cmd.ErrorLine(err))
	}
	os.Exit(cmd.ExitCode(err))
}
