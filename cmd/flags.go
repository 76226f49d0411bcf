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

	// Routes and DNS (connect), and cleanup.
	flgDefaultRoute = "default-route"
	flgNoRoutes     = "no-routes"
	flgDNS          = "dns"
	flgDNSDomain    = "dns-domain"
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
