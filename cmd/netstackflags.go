package cmd

import (
	"strings"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// netstackFrom reads --netstack and its front ends into cfg.Netstack.
func netstackFrom(cfg *tunnel.Config, f connectFlags) error {
	if !f.Netstack {
		for _, fl := range []struct {
			name string
			set  bool
		}{
			{flgSOCKS5, f.SOCKS5 != ""}, {flgSOCKS5User, f.SOCKS5User != ""}, {flgSOCKS5PasswordFile, f.SOCKS5PasswordFile != ""},
			{flgHTTPProxy, f.HTTPProxy != ""}, {flgForward, len(f.Forwards) > 0},
		} {
			if fl.set {
				return usageErrorf("%s needs --%s", f.ref(fl.name), flgNetstack)
			}
		}
		return nil
	}
	if cfg.Script != "" {
		return usageErrorf("%s: a script configures an interface, and --%s has none", f.ref(flgScript), flgNetstack)
	}
	if cfg.DefaultRoute || len(cfg.Routes) > 0 {
		name := flgRoute
		if cfg.DefaultRoute {
			name = flgDefaultRoute
		}
		return usageErrorf("%s: --%s has no routes: everything the proxies carry goes into the tunnel", f.ref(name), flgNetstack)
	}
	ns := &tunnel.NetstackConfig{SOCKS5: f.SOCKS5, SOCKS5User: f.SOCKS5User, HTTPProxy: f.HTTPProxy}
	for _, s := range f.Forwards {
		fw, err := tunnel.ParseForward(strings.TrimSpace(s))
		if err != nil {
			return usageErrorf("%s: %v", f.ref(flgForward), strings.TrimPrefix(err.Error(), tunnel.ErrConfig.Error()+": "))
		}
		ns.Forwards = append(ns.Forwards, fw)
	}
	if ns.SOCKS5 == "" && ns.HTTPProxy == "" && len(ns.Forwards) == 0 {
		ns.SOCKS5 = tunnel.DefaultSOCKS5
	}
	if ns.SOCKS5User != "" && ns.SOCKS5 == "" {
		return usageErrorf("%s needs --%s", f.ref(flgSOCKS5User), flgSOCKS5)
	}
	if f.SOCKS5PasswordFile != "" && ns.SOCKS5User == "" {
		return usageErrorf("%s needs --%s", f.ref(flgSOCKS5PasswordFile), flgSOCKS5User)
	}
	if err := ns.Validate(); err != nil {
		return err // wraps tunnel.ErrConfig: exit 2
	}
	cfg.Netstack = ns
	return nil
}

// socks5Password reads the password of --socks5-user: from
// --socks5-password-file, else L2TPCTL_SOCKS5_PASSWORD.
func (s secretSource) socks5Password(f connectFlags) ([]byte, error) {
	if f.SOCKS5PasswordFile != "" {
		b, err := s.readFile(f.SOCKS5PasswordFile)
		if err != nil {
			return nil, usageErrorf("%s: %v", f.ref(flgSOCKS5PasswordFile), err)
		}
		b = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		if len(b) == 0 {
			return nil, usageErrorf("%s: the file is empty", f.ref(flgSOCKS5PasswordFile))
		}
		return b, nil
	}
	if v, ok := s.lookupEnv(envSOCKS5Password); ok && v != "" {
		return []byte(v), nil
	}
	return nil, usageErrorf("%s: no password given (--%s or %s)", f.ref(flgSOCKS5User), flgSOCKS5PasswordFile, envSOCKS5Password)
}

// proxyEnv is what exec mode's command gets in netstack mode: the
// front ends' addresses, and the variables curl, git, pip, apt and Go
// read to use a proxy (both cases, as programs differ in which they read).
func proxyEnv(l *tunnel.LinkInfo) []string {
	var env []string
	if l.SOCKS5 != "" {
		env = append(env, envSOCKS5+"="+l.SOCKS5)
	}
	if l.HTTPProxy != "" {
		env = append(env, envHTTPProxy+"="+l.HTTPProxy)
	}
	proxy := ""
	switch {
	case l.HTTPProxy != "":
		proxy = "http://" + l.HTTPProxy
	case l.SOCKS5 != "":
		proxy = "socks5h://" + l.SOCKS5
	default:
		return env
	}
	all := proxy
	if l.SOCKS5 != "" {
		all = "socks5h://" + l.SOCKS5
	}
	for _, kv := range [][2]string{{"HTTP_PROXY", proxy}, {"HTTPS_PROXY", proxy}, {"ALL_PROXY", all}} {
		env = append(env, kv[0]+"="+kv[1], strings.ToLower(kv[0])+"="+kv[1])
	}
	return env
}

// proxyEnvNames are the variables proxyEnv may set (dropped from the
// inherited environment first).
var proxyEnvNames = []string{envSOCKS5, envHTTPProxy, "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}
