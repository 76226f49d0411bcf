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
	flgAuth           = "auth"
	flgRoute          = "route"
	flgInterface      = "interface"
	flgSALifetime     = "sa-lifetime"
	flgIKELifetime    = "ike-lifetime"
	flgIKE            = "ike"          // IKE (phase 1) suites, strongSwan style
	flgESP            = "esp"          // ESP suites
	flgPFS            = "pfs"          // Quick Mode PFS group
	flgAllowLegacy    = "allow-legacy" // 3DES, MODP-1024/1536 (DES, MD5 when named), legacy retry
	flgNonInteractive = "non-interactive"
	flgVerbose        = "verbose"
	flgVerboseShort   = "v"

	flgReconnect    = "reconnect"
	flgReconnectMax = "reconnect-max"
	flgScript       = "script"

	flgJSON = "json" // newline-delimited JSON events on stdout (docs/json.md)

	// Routes and DNS (connect), and cleanup.
	flgDefaultRoute = "default-route"
	flgNoRoutes     = "no-routes"
	flgDNS          = "dns"
	flgDNSDomain    = "dns-domain"
)

// Environment variables.
const (
	envPSK      = "L2TPCTL_PSK"      // the pre-shared key (one of its sources)
	envPassword = "L2TPCTL_PASSWORD" // the PPP password (one of its sources)
	envProfile  = "L2TPCTL_PROFILE"  // the profile connect uses without --profile

	// Where the user's profiles are (XDG Base Directory Specification):
	// $XDG_CONFIG_HOME/l2tpctl, else $HOME/.config/l2tpctl.
	envXDGConfigHome = "XDG_CONFIG_HOME"
	envHome          = "HOME"
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
