package cmd

import "github.com/l2tpctl/l2tpctl/tunnel"

// Exit codes of connection failures, one per tunnel.Failure. They are
// stable: scripts test them. docs/exit-codes.md, "l2tpctl connect --help"
// and the README list them; change all four together.
const (
	exitResolve        = 3  // the server name does not resolve
	exitNoAnswer       = 4  // no answer from the server (IKE)
	exitNoProposal     = 5  // IKE phase 1 refused: no proposal chosen
	exitIKEAuth        = 6  // IKE phase 1 authentication failed (pre-shared key, certificates)
	exitQuickMode      = 7  // IKE phase 2 (Quick Mode) failed
	exitL2TP           = 8  // L2TP tunnel or session refused or timed out
	exitPPPAuth        = 9  // PPP authentication rejected
	exitPPPNegotiation = 10 // PPP negotiation failed (LCP, IPCP)
	exitLocal          = 11 // local setup failed (TUN, addresses, routes, permissions)
	exitLost           = 12 // the connection was lost after it was up
)

// failureExit maps each class of failure to its exit code.
var failureExit = map[tunnel.Failure]int{
	tunnel.FailNone:           exitOK,
	tunnel.FailOther:          exitFailure,
	tunnel.FailConfig:         exitUsage,
	tunnel.FailResolve:        exitResolve,
	tunnel.FailNoAnswer:       exitNoAnswer,
	tunnel.FailNoProposal:     exitNoProposal,
	tunnel.FailIKEAuth:        exitIKEAuth,
	tunnel.FailQuickMode:      exitQuickMode,
	tunnel.FailL2TP:           exitL2TP,
	tunnel.FailPPPAuth:        exitPPPAuth,
	tunnel.FailPPPNegotiation: exitPPPNegotiation,
	tunnel.FailLocal:          exitLocal,
	tunnel.FailLost:           exitLost,
}

// exitCodeOf is the exit code of a class of failure; unknown classes are
// exitFailure.
func exitCodeOf(f tunnel.Failure) int {
	if c, ok := failureExit[f]; ok {
		return c
	}
	return exitFailure
}

// exitHints is what to check first, per exit code: the end of the error
// line. docs/troubleshooting.md has a section per code.
var exitHints = map[int]string{
	exitResolve:        "check the server name and the DNS resolver, or give the server's IPv4 address",
	exitNoAnswer:       "check the server address, that UDP 500 and 4500 reach it, and that its L2TP/IPsec service is on",
	exitNoProposal:     "the server accepts none of the IKE proposals offered: name the suites it takes with --ike (and --esp), see docs/interop.md",
	exitIKEAuth:        "check the pre-shared key (and --id in Aggressive Mode)",
	exitQuickMode:      "the server refused the IPsec SA: check its ESP transforms and L2TP/IPsec policy",
	exitL2TP:           "the server's L2TP service refused or did not answer: check that L2TP over IPsec is enabled for this client",
	exitPPPAuth:        "check the user name and the password (and the user's hub, on SoftEther)",
	exitPPPNegotiation: "PPP options did not agree: check --auth against the methods the server allows",
	exitLocal:          "run as root or with CAP_NET_ADMIN, and check the interface name and routes",
	exitLost:           "the server closed the connection or stopped answering: check the server's log and the network path",
}

// exitCodes is the list in "connect --help", in the words of
// docs/exit-codes.md.
const exitCodes = "Exit status:\n" +
	"   0  stopped by SIGINT/SIGTERM after connecting\n" +
	"   1  any other failure\n" +
	"   2  usage or configuration error (flags, secrets)\n" +
	"   3  the server name does not resolve\n" +
	"   4  no answer from the server (IKE)\n" +
	"   5  IKE phase 1 refused: no proposal chosen\n" +
	"   6  IKE phase 1 authentication failed (pre-shared key, certificates)\n" +
	"   7  IKE phase 2 (Quick Mode) failed\n" +
	"   8  L2TP tunnel or session refused or timed out\n" +
	"   9  PPP authentication rejected\n" +
	"  10  PPP negotiation failed (LCP, IPCP)\n" +
	"  11  local setup failed (TUN, addresses, routes, permissions)\n" +
	"  12  the connection was lost after it was up\n" +
	"See docs/exit-codes.md."
