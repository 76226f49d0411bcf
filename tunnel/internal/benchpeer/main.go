// Command benchpeer is the benchmark peer of scripts/bench-netns.sh: an
// L2TP/IPsec server built from the project's own responders
// (tunnel/internal/peertest: isakmp.Responder, l2tp.LNS, ppp.Server) on
// real UDP sockets (ports 500 and 4500), which terminates the PPP link on a
// TUN device, so that programs in the server's network namespace (iperf3)
// are reached through the tunnel. Its data goes through package tunnel's
// own data path, the client's, turned round (tunnel.ServerPath), so that it
// costs per packet what the client costs and gains what the client gains;
// serve -datapath peertest keeps peertest's per-packet path to compare. l2tpctl connect reaches it as it reaches
// a real server: Main Mode, Quick Mode, L2TP tunnel and session, LCP,
// MS-CHAPv2, IPCP.
//
// It is for benchmarks only. It lives under internal/ so that nothing
// outside this module imports it, and it is not a command of the shipped
// l2tpctl binary. Besides the server it carries the small helpers the
// script needs, so that the script depends on nothing but iperf3:
//
//	benchpeer serve [flags]            the server (see serveFlags)
//	benchpeer udpecho -addr A:P        echoes UDP datagrams
//	benchpeer udpping -to A:P [-n N] [-size B]
//	                                   request/response round trips; prints
//	                                   "p50_us P p99_us Q n N"
//	benchpeer summarize [-json] FILE   turns the script's records into the
//	                                   table or JSON of docs/performance.md
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "udpecho":
		err = udpEcho(os.Args[2:])
	case "udpping":
		err = udpPing(os.Args[2:])
	case "summarize":
		err = summarize(os.Args[2:], os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchpeer %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchpeer serve|udpecho|udpping|summarize [flags]")
	os.Exit(2)
}
