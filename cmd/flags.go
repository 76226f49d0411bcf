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

// Output flags.
const (
	flgJSON = "json" // newline-delimited JSON events on stdout (docs/json.md)
)

// Environment variables holding secrets (one of the three sources per secret).
const (
	envPSK      = "L2TPCTL_PSK"
	envPassword = "L2TPCTL_PASSWORD"
)

// Exit codes 0-2; the codes of connection failures (3-12) are in
// exitcodes.go, and docs/exit-codes.md lists them all.
const (
	exitOK      = 0
	exitFailure = 1 // any other failure (an unexpected error)
	exitUsage   = 2 // bad flags, arguments or configuration
)
