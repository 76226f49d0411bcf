package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

func newProfileCommand(d appDeps) *cli.Command {
	return &cli.Command{
		Name:      "profile",
		Usage:     "list, show and check connection profiles",
		UsageText: "l2tpctl profile list | show [NAME|PATH] | check [NAME|PATH]",
		Description: "A profile holds settings of 'l2tpctl connect' in a TOML file, used with\n" +
			"'l2tpctl connect --profile NAME'. Its keys are connect's long flag names:\n\n" +
			"  server = \"vpn.example.net\"\n" +
			"  user = \"alice\"\n" +
			"  psk-file = \"office.psk\"          # relative to the profile's directory\n" +
			"  route = [\"10.0.0.0/8\", \"192.168.30.0/24\"]\n" +
			"  sa-lifetime = \"2h\"\n\n" +
			"NAME is looked up as $XDG_CONFIG_HOME/l2tpctl/NAME.toml (default\n" +
			"~/.config/l2tpctl/NAME.toml), then " + systemProfileDir + "/NAME.toml; a NAME with a '/' is a\n" +
			"path. show and check take " + envProfile + " when no NAME is given. A profile with\n" +
			"the secrets themselves (psk, password) must be private to its owner (chmod 600).\n" +
			"Every key is described in docs/profile.md.",
		Subcommands: []*cli.Command{
			{
				Name:         "list",
				Usage:        "list the profiles found (name and file), the user's first",
				UsageText:    "l2tpctl profile list",
				OnUsageError: onUsageError,
				Before:       checkNoArgs,
				Action:       func(c *cli.Context) error { return listProfiles(d) },
			},
			{
				Name:      "show",
				Usage:     "print a profile's settings, with the defaults of the keys it leaves out (secrets as (set) or (not set))",
				UsageText: "l2tpctl profile show [NAME|PATH]",
				Description: "Prints every key, one per line, TOML-like: the profile's value, or the default\n" +
					"(marked \"# default\") or (not set). The secrets psk and password show only\n" +
					"whether the profile sets them. psk-file and password-file are shown resolved:\n" +
					"relative to the profile's directory, \"~/\" as the home directory.",
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					p, err := profileArg(c, d)
					if err != nil {
						return err
					}
					showProfile(d, p)
					return nil
				},
			},
			{
				Name:      "check",
				Usage:     "check a profile without connecting",
				UsageText: "l2tpctl profile check [NAME|PATH]",
				Description: "Checks everything 'l2tpctl connect --profile NAME' would check before contacting\n" +
					"the server, with no other flags: the keys, their types and values, and the secret\n" +
					"files the profile names (read, never printed). Prints \"FILE: ok\" and exits 0, or\n" +
					"prints the first problem with its file, line and key and exits 2.",
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					p, err := profileArg(c, d)
					if err != nil {
						return err
					}
					if err := checkProfile(d, p); err != nil {
						return err
					}
					_, err = fmt.Fprintf(d.stdout, "%s: ok\n", p.Path)
					return err
				},
			},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q (see 'l2tpctl profile --help')", "profile "+c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

// profileArg loads the profile named by the one argument, else by
// L2TPCTL_PROFILE.
func profileArg(c *cli.Context, d appDeps) (*profile, error) {
	args := c.Args().Slice()
	switch {
	case len(args) == 1:
		return loadProfile(args[0], "profile", d)
	case len(args) > 1 && len(args[1]) > 1 && strings.HasPrefix(args[1], "-"):
		return nil, usageErrorf("flag %s after the argument %q would be ignored: flags must come first", args[1], args[0])
	case len(args) > 1:
		return nil, usageErrorf("unexpected argument %q: %s takes one profile", args[1], c.Command.HelpName)
	}
	if name, _ := d.lookupEnv(envProfile); name != "" {
		return loadProfile(name, envProfile, d)
	}
	return nil, usageErrorf("no profile given: use %s NAME or PATH, or set %s", c.Command.HelpName, envProfile)
}

// checkProfile checks what connect would with this profile and no flags,
// before contacting the server: the settings, and the secrets the profile
// gives in itself or in files. The environment, stdin and the terminal are
// left alone: they belong to connect's run.
func checkProfile(d appDeps, p *profile) error {
	f := flagsFrom(newFlagDefaults(connectFlagDefs()), p)
	if _, err := settingsFrom(f); err != nil {
		return err
	}
	src := d.secretSource()
	src.lookupEnv = func(string) (string, bool) { return "", false }
	if _, _, err := src.load(f); err != nil {
		return err
	}
	_, err := src.l2tpSecret(f)
	return err
}

// showProfile prints every key: the profile's value, else the default.
func showProfile(d appDeps, p *profile) {
	fmt.Fprintf(d.stdout, "# %s\n", p.Path)
	flags := connectFlagDefs()
	for _, fl := range flags {
		name := fl.Names()[0]
		if notKeys[name] != "" {
			continue
		}
		v, set := p.values[name]
		if !set {
			v = flagDefault(fl)
		}
		var text string
		switch {
		case isInlineSecret(name) && set:
			text = "(set)"
		case isInlineSecret(name), v == "":
			text = "(not set)"
		default:
			text = tomlValue(v)
		}
		if !set && text != "(not set)" {
			text += "  # default"
		}
		fmt.Fprintf(d.stdout, "%s = %s\n", name, text)
	}
}

func isInlineSecret(key string) bool {
	for _, k := range inlineSecretKeys {
		if k == key {
			return true
		}
	}
	return false
}

// tomlValue formats a decoded value (decodeValue) as TOML.
func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return tomlString(v)
	case time.Duration:
		return tomlString(shortDuration(v))
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = tomlString(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return fmt.Sprint(v) // int, bool
	}
}

// shortDuration drops time.Duration.String's zero minutes and seconds:
// "1h", "1h30m", "90s" rather than "1h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// listProfiles prints "NAME  FILE" for each profile in profileDirs. A
// system profile with the name of a user's one is marked as shadowed.
func listProfiles(d appDeps) error {
	dirs := profileDirs(d.lookupEnv)
	tw := tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
	first := map[string]string{} // name → the file connect --profile NAME reads
	for _, dir := range dirs {
		entries, err := d.readDir(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			fmt.Fprintf(d.stderr, "l2tpctl: warning: %v\n", err)
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".toml")
			if !ok || name == "" || strings.HasPrefix(name, ".") || e.IsDir() {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if f, ok := first[name]; ok {
				fmt.Fprintf(tw, "%s\t%s\t(shadowed by %s)\n", name, path, f)
				continue
			}
			first[name] = path
			fmt.Fprintf(tw, "%s\t%s\n", name, path)
		}
	}
	if len(first) == 0 {
		fmt.Fprintf(d.stderr, "l2tpctl: no profiles in %s\n", strings.Join(dirs, " or "))
	}
	return tw.Flush()
}
