package cmd

// Flag names (without dashes) and environment variables. Tests and help text
// refer to these constants; change a name here and nowhere else.
const (
	flgServer       = "server"
	flgNATTPort     = "natt-port"
	flgPSK          = "psk"
	flgPSKFile      = "psk-file"
	flgUser         = "user"
	flgPassword     = "password"
	flgPasswordFile = "password-file"
	flgAuth         = "auth"
	flgRoute        = "route"
	flgInterface    = "interface"
	flgSALifetime   = "sa-lifetime"
	flgIKELifetime  = "ike-lifetime"
	flgVerbose      = "verbose"
	flgVerboseShort = "v"
)

// Environment variables holding secrets (one of the three sources per secret).
const (
	envPSK      = "L2TPCTL_PSK"
	envPassword = "L2TPCTL_PASSWORD"
)

// Exit codes. Later issues may give each connection phase its own code; for
// now every connection failure is exitFailure.
const (
	exitOK      = 0
	exitFailure = 1 // the connection failed (or an unexpected error)
	exitUsage   = 2 // bad flags, arguments or configuration
)

// Flags and environment of exec mode, background mode, readiness and the
// control socket (exec.go, background.go, ready.go, cmd_status.go,
// cmd_disconnect.go).
const (
	flgBackground = "background"
	flgReadyFD    = "ready-fd"
	flgUpTimeout  = "up-timeout"
	flgJSON       = "json"

	// Given to the command run in exec mode.
	envInterface = "L2TPCTL_INTERFACE"
	envLocalIP   = "L2TPCTL_LOCAL_IP"
	envPeerIP    = "L2TPCTL_PEER_IP"
	envDNS       = "L2TPCTL_DNS"

	envRunDir       = "L2TPCTL_RUN_DIR"       // overrides defaultRunDir
	envNotifySocket = "NOTIFY_SOCKET"         // systemd's, see sd_notify(3)
	envBackgroundFD = "L2TPCTL_BACKGROUND_FD" // set by --background for its child: the pipe to report "up" on

	// defaultRunDir holds the control sockets and the background logs.
	defaultRunDir = "/run/l2tpctl"
)

// Exit codes of exec mode, status and disconnect. Exec mode otherwise exits
// with the command's own status, as a shell does.
const (
	exitNotRunning = 3   // status, disconnect: no connection on that interface
	exitLinkLost   = 12  // exec mode: the link went down while the command ran
	exitCannotRun  = 126 // exec mode: the command was found but could not run
	exitNotFound   = 127 // exec mode: no such command
	exitSignalBase = 128 // exec mode: the command died of signal N: 128+N
)
