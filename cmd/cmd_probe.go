package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

// probeFlagNames are the connect flags probe takes, with connect's
// definitions (and profile keys).
var probeFlagNames = []string{
	flgProfile, flgServer, flgNATTPort,
	flgPSKFile, flgPSKStdin, flgPSK,
	flgUser, flgPasswordFile, flgPasswordStdin, flgPassword, flgAuth,
	flgID, flgCert, flgKey, flgCA, flgServerID,
	flgVerbose,
}

func newProbeCommand(d appDeps) *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "fingerprint an L2TP/IPsec server without connecting, and say which flags to use",
		UsageText: "l2tpctl probe --server HOST[:PORT] [--psk-file FILE [--user NAME --password-file FILE]] [--json]",
		Description: "Answers \"it never comes up and I don't know why\". Without secrets, l2tpctl sends IKE\n" +
			"Main Mode message 1 once per class of suites (AES/SHA2/MODP-2048, AES/ECP, AES/SHA1/\n" +
			"MODP-2048, legacy 3DES/MODP-1024/1536, DES/MD5), each from a new port, and reports which\n" +
			"the server accepts or refuses, the transform it chose and its vendor IDs (NAT-T, DPD,\n" +
			"fragmentation, Microsoft, Cisco, strongSwan, Libreswan...); then whether it answers\n" +
			"Aggressive Mode and takes certificates (RSA signatures). It stops after message 2: nothing\n" +
			"is authenticated and no key is needed.\n\n" +
			"With the pre-shared key (or --cert/--key/--ca), it completes phase 1 and tries Quick Mode\n" +
			"once per class of ESP suites (AES-GCM, AES/SHA2, AES/SHA1, legacy). With a user and\n" +
			"password too, it brings up L2TP and PPP (no interface is created) and reports the server's\n" +
			"L2TP Host and Vendor Name and the PPP authentication methods it asked for. Every attempt\n" +
			"is torn down (PPP Terminate, CDN, StopCCN, IKE Delete). Secrets come from the same\n" +
			"sources as for connect; probe never prompts for one. --profile NAME reads a connect\n" +
			"profile (see 'l2tpctl connect --help'); only the keys of the flags below are used.\n\n" +
			"Bounded: each offer waits " + tunnel.ProbeWait.String() + " (sent three times); a silent server costs about\n" +
			"15 s in all, each keyed attempt at most " + tunnel.ProbeKeyedWait.String() + ".\n\n" +
			"Output: a table on stdout ending in a \"Use:\" line with the connect flags to add; with\n" +
			"--json one JSON document instead (docs/json.md).\n\n" +
			"Exit status: 0 when the server answered at all (whatever it said); 2 for usage errors;\n" +
			"3 when the name does not resolve; 4 when nothing answered. See docs/exit-codes.md.\n\n" +
			"Examples:\n" +
			"  l2tpctl probe --server vpn.example.net\n" +
			"  l2tpctl probe --server 10.200.0.1 --psk-file ./psk --user alice --password-file ./pw --json",
		Flags:        probeFlagDefs(),
		OnUsageError: onUsageError,
		Before:       checkNoArgs,
		Action:       func(c *cli.Context) error { return probe(c, d) },
	}
}

// probeFlagDefs are connect's flags that probe takes, and --json.
func probeFlagDefs() []cli.Flag {
	var fs []cli.Flag
	for _, f := range connectFlagDefs() {
		if slices.Contains(probeFlagNames, f.Names()[0]) {
			fs = append(fs, f)
		}
	}
	return append(fs, &cli.BoolFlag{Name: flgJSON, Usage: "print the result as one JSON document on stdout (docs/json.md)"})
}

func probe(c *cli.Context, d appDeps) error {
	p, err := connectProfile(c, d)
	if err != nil {
		return err
	}
	f := flagsFrom(c, p)
	// Connect's settings that probe has no flag for keep their defaults
	// (a profile's values for them do not matter here).
	def := defaultConnectFlags()
	f.Interface, f.SALifetime, f.IKELifetime, f.NATTKeepalive = def.Interface, def.SALifetime, def.IKELifetime, def.NATTKeepalive
	f.Routes, f.DNS, f.DNSDomains, f.DefaultRoute, f.NoRoutes = nil, def.DNS, nil, false, false
	f.Reconnect, f.Script, f.IKE, f.ESP, f.PFS, f.AllowLegacy, f.Aggressive = false, "", "", "", "", false, false
	f.IPv6, f.Routes6, f.ESPTransport, f.Pcap, f.KeyLog = def.IPv6, nil, def.ESPTransport, "", ""
	user := f.User
	if f.User == "" {
		f.User = "probe" // settingsFrom wants one; never sent without a password
	}
	cfg, err := settingsFrom(f)
	if err != nil {
		return err
	}
	cfg.User = user
	if cfg.Certs, err = loadCerts(f, d.readFile); err != nil {
		return err
	}
	if cfg.PSK, cfg.Password, err = d.secretSource().optionalSecrets(c.Context, f); err != nil {
		return err
	}
	if cfg.User == "" {
		cfg.Password = nil
	}
	run := d.probe
	if run == nil {
		run = tunnel.Probe
	}
	deps := tunnel.Deps{Log: newLogger(d.stderr, d.now, f.Verbose)}
	res, err := run(c.Context, cfg, deps)
	if res != nil {
		if c.Bool(flgJSON) {
			writeProbeJSON(d.stdout, res)
		} else {
			printProbe(d.stdout, res, f.Server)
		}
	}
	return err
}

// writeProbeJSON prints the result as one indented JSON document.
func writeProbeJSON(w io.Writer, r *tunnel.ProbeResult) {
	if r.Use == nil {
		r.Use = []string{}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		fmt.Fprintf(w, "{\"error\": %q}\n", err.Error())
		return
	}
	fmt.Fprintf(w, "%s\n", b)
}

// printProbe prints the human table.
func printProbe(out io.Writer, r *tunnel.ProbeResult, server string) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	guess := ""
	if r.Guess != "" {
		guess = " — looks like " + r.Guess
	}
	fmt.Fprintf(w, "Server %s, IKE on UDP %d%s\n\n", r.Server, r.Port, guess)
	fmt.Fprintf(w, "Phase 1 offer\tresult\tserver's choice\n")
	row := func(name string, o tunnel.ProbeOutcome) {
		detail := o.Chosen
		if o.Notify != "" {
			detail = o.Notify
		}
		if o.Detail != "" {
			detail = strings.TrimSpace(detail + " (" + o.Detail + ")")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", name, o.Result, orDash(detail))
	}
	for _, o := range r.IKE {
		row("  Main Mode "+o.Class, o)
	}
	row("  Aggressive Mode (PSK)", r.Aggressive)
	row("  Main Mode, certificates", r.Certificates)
	w.Flush()
	fmt.Fprintln(out)
	if len(r.VendorIDs) == 0 {
		fmt.Fprintln(out, "Vendor IDs: none")
	} else {
		fmt.Fprintln(out, "Vendor IDs:")
		for _, v := range r.VendorIDs {
			name := v.Name
			if name == "" {
				name = "(unknown)"
			}
			fmt.Fprintf(w, "  %s\t%s\n", v.Hex, name)
		}
		w.Flush()
	}
	if r.Phase1 != nil {
		if r.Phase1.Result == tunnel.ProbeAccepted {
			fmt.Fprintf(out, "\nPhase 1 with the key: %s\n", r.Phase1.Detail)
		} else {
			fmt.Fprintf(out, "\nPhase 1 with the key: FAILED: %s\n", r.Phase1.Detail)
		}
	}
	if len(r.ESP) > 0 {
		fmt.Fprintf(w, "\nQuick Mode offer\tresult\tserver's choice\n")
		for _, o := range r.ESP {
			detail := o.Chosen
			if o.Result == tunnel.ProbeFailed && o.Detail != "" {
				detail = o.Detail
			}
			fmt.Fprintf(w, "  ESP %s\t%s\t%s\n", o.Class, o.Result, orDash(detail))
		}
		w.Flush()
	}
	if l := r.L2TP; l != nil {
		fw := ""
		if l.Firmware != nil {
			fw = fmt.Sprintf(", firmware %d", *l.Firmware)
		}
		fmt.Fprintf(out, "\nL2TP: Host Name %q, Vendor Name %q%s, framing capabilities %d, bearer capabilities %d\n",
			l.HostName, l.VendorName, fw, l.Framing, l.Bearer)
	}
	if p := r.PPP; p != nil {
		fmt.Fprintf(out, "PPP: the server asked for %s", orNoneList(p.Requested))
		if len(p.Accepted) > 0 {
			fmt.Fprintf(out, "; accepted %s", strings.Join(p.Accepted, ", "))
		}
		if p.Up {
			fmt.Fprint(out, "; link up (then closed)")
		}
		if p.Err != "" {
			fmt.Fprintf(out, "; failed: %s", p.Err)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out)
	switch {
	case !r.Answered():
		fmt.Fprintln(out, "Use: nothing to recommend: the server did not answer")
		return
	case len(r.Use) == 0:
		fmt.Fprintf(out, "Use: l2tpctl connect --server %s ... (no extra flags needed)\n", server)
		return
	}
	fmt.Fprintf(out, "Use: l2tpctl connect --server %s ... %s\n", server, strings.Join(r.Use, " "))
}

// orDash keeps a table cell from being empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// probeFunc is tunnel.Probe's signature.
type probeFunc = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) (*tunnel.ProbeResult, error)
