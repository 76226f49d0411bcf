package cmd

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

func newStatusCommand(d appDeps) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show the state of a running connection",
		UsageText: "l2tpctl status [--interface NAME] [--json]",
		Description: "Asks the connection on interface NAME, through its control socket\n" +
			defaultRunDir + "/NAME.sock (NAME@net-INODE.sock outside the host's network\n" +
			"namespace), for its state, uptime, addresses, suites, SPIs, traffic counters\n" +
			"and re-keys.\n\n" +
			"Exit status: 0 with a connection, 3 when none runs on NAME, 1 for other errors.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flgInterface, Value: tunnel.DefaultInterface, Usage: "TUN interface `NAME` of the connection"},
			&cli.BoolFlag{Name: flgJSON, Usage: "print the status as one JSON object"},
		},
		OnUsageError: onUsageError,
		Before:       checkNoArgs,
		Action: func(c *cli.Context) error {
			path, err := socketFor(c, d)
			if err != nil {
				return err
			}
			st, err := d.queryStatus(c.Context, path)
			if err != nil {
				return controlError(c.String(flgInterface), err)
			}
			if c.Bool(flgJSON) {
				b, err := json.Marshal(st)
				if err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "%s\n", b)
				return nil
			}
			printStatus(d.stdout, st)
			return nil
		},
	}
}

// socketFor is the control socket of --interface.
func socketFor(c *cli.Context, d appDeps) (string, error) {
	name := c.String(flgInterface)
	if err := tunnel.CheckInterfaceName(name); err != nil {
		return "", err
	}
	return controlSocket(d, name), nil
}

// controlError maps tunnel.ErrNotRunning to exitNotRunning.
func controlError(name string, err error) error {
	if errors.Is(err, tunnel.ErrNotRunning) {
		return &exitError{exitNotRunning, fmt.Errorf("no connection on %s: %w", name, err)}
	}
	return err
}

// printStatus writes st for people, e.g.
//
//	l2tp0: up for 1h2m3s (since 2026-01-02T15:04:05Z), pid 1234, server 10.0.0.1:500
//	  addresses  local 192.168.30.10, peer 192.168.30.1, MTU 1400
//	  …
func printStatus(w io.Writer, st tunnel.Status) {
	switch st.State {
	case "up":
		up := time.Duration(st.UptimeSeconds * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(w, "%s: up for %v (since %s), pid %d, server %s\n", st.Interface, up,
			st.UpSince.Format(time.RFC3339), st.PID, st.Server)
	default:
		fmt.Fprintf(w, "%s: %s (phase %s), pid %d, server %s\n", st.Interface, st.State, st.Phase, st.PID, st.Server)
	}
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "  %-10s %s\n", k, fmt.Sprintf(format, a...)) }
	if st.Local != "" {
		peer := st.Peer
		if peer == "" {
			peer = "none"
		}
		row("addresses", "local %s, peer %s, MTU %d", st.Local, peer, st.MTU)
		row("DNS", "%s", orNoneList(st.DNS))
		row("routes", "%s", orNoneList(st.Routes))
		if st.Local6 != "" {
			peer6 := st.Peer6
			if peer6 == "" {
				peer6 = "unknown"
			}
			row("IPv6", "local %s, peer %s, routes %s", st.Local6, peer6, orNoneList(st.Routes6))
		}
	}
	if st.IKESuite != "" {
		row("IKE", "%s", st.IKESuite)
	}
	if st.ESPSuite != "" {
		row("ESP", "%s, SPI in %s out %s", st.ESPSuite, st.SPIIn, st.SPIOut)
	}
	row("sent", "%d packets, %d bytes (%s)", st.TxPackets, st.TxBytes, dropNote(st.TxDropped, st.TxDrops))
	row("received", "%d packets, %d bytes (%s)", st.RxPackets, st.RxBytes, dropNote(st.RxDropped, st.RxDrops))
	row("re-keys", "%d IPsec, %d IKE re-authentications", st.Rekeys, st.Reauths)
}

// dropNote is "N dropped", followed by the reasons, most frequent first:
// "40003 dropped: ike_not_ours 40000, unknown_spi 3".
func dropNote(total uint64, by map[string]uint64) string {
	note := fmt.Sprintf("%d dropped", total)
	reasons := slices.SortedFunc(maps.Keys(by), func(a, b string) int {
		return cmp.Or(cmp.Compare(by[b], by[a]), strings.Compare(a, b))
	})
	for i, r := range reasons {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		note += fmt.Sprintf("%s%s %d", sep, r, by[r])
	}
	return note
}

func orNoneList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
