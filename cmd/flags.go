package cmd

// Flag names (without dashes) and environment variables. Tests and help text
// refer to these constants; change a name here and nowhere else. The long
// names of connect's flags are also the keys of a profile (profile.go).
const (
	flgProfile        = "profile"
	flgServer         = "server"
	flgNATTPort       = "natt-port"
	flgPSK            = "psk"
	flgPSKFile        = "psk-file"
	flgPSKStdin       = "psk-stdin"
	flgUser           = "user"
	flgPassword       = "password"
	flgPasswordFile   = "password-file"
	flgPasswordStdin  = "password-stdin"
	flgL2TPSecret     = "l2tp-secret"
	flgL2TPSecretFile = "l2tp-secret-file"
	flgNATTKeepalive  = "natt-keepalive"
	flgESPTransport   = "esp-transport"
	flgAuth           = "auth"
	flgRoute          = "route"
	flgRoute6         = "route6"
	flgIPv6           = "ipv6"
	flgInterface      = "interface"
	flgSALifetime     = "sa-lifetime"
	flgIKELifetime    = "ike-lifetime"
	flgIKE            = "ike"          // IKE (phase 1) suites, strongSwan style
	flgESP            = "esp"          // ESP suites
	flgPFS            = "pfs"          // Quick Mode PFS group
	flgAllowLegacy    = "allow-legacy" // 3DES, MODP-1024/1536 (DES, MD5 when named), legacy retry
	flgNonInteractive = "non-interactive"

	// Dead-peer detection (docs/reliability.md, "Dead peers").
	flgLCPEchoInterval = "lcp-echo-interval"
	flgLCPEchoFailures = "lcp-echo-failures"
	flgDPDInterval     = "dpd-interval"

	// IKE phase-1 authentication.
	flgAggressive = "aggressive"
	flgID         = "id"
	flgCert       = "cert"
	flgKey        = "key"
	flgCA         = "ca"
	flgServerID   = "server-id"

	flgVerbose      = "verbose"
	flgVerboseShort = "v"

	flgReconnect    = "reconnect"
	flgReconnectMax = "reconnect-max"
	flgScript       = "script"

	flgJSON = "json" // newline-delimited JSON events on stdout (docs/json.md)

	// Routes and DNS (connect), and cleanup.
	flgDefaultRoute = "default-route"
	flgNoRoutes     = "no-routes"
	flgDNS          = "dns"
	flgDNSDomain    = "dns-domain"

	// Netstack mode: no TUN, local proxies into the tunnel instead.
	flgNetstack           = "netstack"
	flgSOCKS5             = "socks5"
	flgSOCKS5User         = "socks5-user"
	flgSOCKS5PasswordFile = "socks5-password-file"
	flgHTTPProxy          = "http-proxy"
	flgForward            = "forward"
)

// Environment variables.
const (
	envPSK      = "L2TPCTL_PSK"      // the pre-shared key (one of its sources)
	envPassword = "L2TPCTL_PASSWORD" // the PPP password (one of its sources)
	// envL2TPSecret is the L2TP tunnel secret (one of its sources).
	envL2TPSecret = "L2TPCTL_L2TP_SECRET"
	envProfile    = "L2TPCTL_PROFILE" // the profile connect uses without --profile
	// envSOCKS5Password is the password SOCKS5 clients must give with
	// --socks5-user (one of its sources).
	envSOCKS5Password = "L2TPCTL_SOCKS5_PASSWORD"

	// Where the user's profiles are (XDG Base Directory Specification):
	// $XDG_CONFIG_HOME/l2tpctl, else $HOME/.config/l2tpctl.
	envXDGConfigHome = "XDG_CONFIG_HOME"
	envHome          = "HOME"
	// envXDGRuntimeDir is where a user other than root keeps the control
	// sockets (runDir).
	envXDGRuntimeDir = "XDG_RUNTIME_DIR"
)

// systemProfileDir holds the profiles shared by all users; a user's own
// profile of the same name comes first.
const systemProfileDir = "/etc/l2tpctl"

// Exit codes 0-2; the codes of connection failures (3-12) are in
// exitcodes.go, and docs/exit-codes.md lists them all.
const (
	exitOK      = 0
	exitFailure = 1 // any other failure (an unexpected error)
	exitUsage   = 2 // bad flags, arguments, profile or configuration
)

// Flags and environment of exec mode, background mode, readiness and the
// control socket (exec.go, background.go, ready.go, cmd_status.go,
// cmd_disconnect.go).
const (
	flgBackground = "background"
	flgReadyFD    = "ready-fd"
	flgUpTimeout  = "up-timeout"

	// Given to the command run in exec mode.
	envInterface = "L2TPCTL_INTERFACE"
	envLocalIP   = "L2TPCTL_LOCAL_IP"
	envPeerIP    = "L2TPCTL_PEER_IP"
	envLocalIP6  = "L2TPCTL_LOCAL_IP6" // our IPv6 link-local address; empty when IPv6 is not up
	envPeerIP6   = "L2TPCTL_PEER_IP6"  // the server's, if it sent an Interface-Identifier
	envDNS       = "L2TPCTL_DNS"
	// In netstack mode: the front ends' addresses, and the proxy
	// variables clients read (both cases).
	envSOCKS5    = "L2TPCTL_SOCKS5"
	envHTTPProxy = "L2TPCTL_HTTP_PROXY"

	// envNoUDPOffload, set to anything but "" or "0", sends and receives
	// one datagram per message (tunnel.Config.NoUDPOffload): for
	// measurements, and an escape hatch.
	envNoUDPOffload = "L2TPCTL_NO_UDP_OFFLOAD"

	envRunDir       = "L2TPCTL_RUN_DIR"       // overrides defaultRunDir
	envNotifySocket = "NOTIFY_SOCKET"         // systemd's, see sd_notify(3)
	envBackgroundFD = "L2TPCTL_BACKGROUND_FD" // set by --background for its child: the pipe to report "up" on
	// envNoTUNOffload, set to anything but "" or "0", opens a plain TUN
	// device without TCP segmentation offload (tunnel.Config.NoTUNOffload):
	// for measurements, and an escape hatch.
	envNoTUNOffload = "L2TPCTL_NO_TUN_OFFLOAD"

	// defaultRunDir holds the control sockets and the background logs.
	defaultRunDir = "/run/l2tpctl"
)

// Exit codes of exec mode, status and disconnect. Exec mode otherwise exits
// with the command's own status, as a shell does.
const (
	exitNotRunning = 3        // status, disconnect: no connection on that interface
	exitLinkLost   = exitLost // exec mode: the link went down while the command ran
	exitCannotRun  = 126      // exec mode: the command was found but could not run
	exitNotFound   = 127      // exec mode: no such command
	exitSignalBase = 128      // exec mode: the command died of signal N: 128+N
)

// Debugging output of connect (docs/troubleshooting.md, "Looking at the
// packets"): never written unless asked.
const (
	flgPcap   = "pcap"
	flgKeyLog = "keylog"
)
