package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config.Script is a hook with the interface of vpnc-script, the script
// vpnc and openconnect run, so that the scripts people have for those
// work here: it gets everything in its environment (scriptEnv) and no
// arguments, and the reason it runs for in $reason:
//
//	pre-init    before the TUN is created (vpnc-script loads the tun module)
//	connect     the TUN is up with its address and MTU: add routes, DNS
//	disconnect  before the TUN is removed: undo what connect did
//
// With a script l2tpctl adds no routes of its own: the routes it was given
// are handed to the script as split-include routes (CISCO_SPLIT_INC_…);
// with none, vpnc-script routes everything through the tunnel (after a
// host route to VPNGATEWAY through the old default gateway). After a
// reconnection (reconnect.go) the new link runs pre-init and connect again,
// the lost one having run disconnect: the interface is a new one.

// Script reasons (vpnc-script's $reason).
const (
	scriptPreInit    = "pre-init"
	scriptConnect    = "connect"
	scriptDisconnect = "disconnect"
)

// Script tunables (implementation choices).
const (
	scriptTimeout   = 15 * time.Second // each run; then it is killed
	scriptWaitDelay = time.Second      // for its output once it has exited or been killed
)

// scriptEnv is the vpnc-script environment for reason: the gateway and our
// PID always, the interface and the addresses when link is known (connect,
// disconnect). PPP gives a point-to-point link with no netmask and no
// domain: the netmask is /32 and CISCO_DEF_DOMAIN is not set.
func scriptEnv(reason string, gateway netip.Addr, pid int, link *LinkInfo) []string {
	env := []string{
		"reason=" + reason,
		"VPNGATEWAY=" + gateway.String(),
		"VPNPID=" + strconv.Itoa(pid),
	}
	if link == nil {
		return env
	}
	env = append(env,
		"TUNDEV="+link.Interface,
		"INTERNAL_IP4_ADDRESS="+link.Local.String(),
		"INTERNAL_IP4_MTU="+strconv.Itoa(link.MTU),
		"INTERNAL_IP4_NETMASK=255.255.255.255",
		"INTERNAL_IP4_NETMASKLEN=32",
		"INTERNAL_IP4_NETADDR="+link.Local.String(),
	)
	if len(link.DNS) > 0 {
		dns := make([]string, len(link.DNS))
		for i, a := range link.DNS {
			dns[i] = a.String()
		}
		env = append(env, "INTERNAL_IP4_DNS="+strings.Join(dns, " "))
	}
	if len(link.Routes) > 0 {
		env = append(env, "CISCO_SPLIT_INC="+strconv.Itoa(len(link.Routes)))
		for i, r := range link.Routes {
			p := fmt.Sprintf("CISCO_SPLIT_INC_%d_", i)
			env = append(env,
				p+"ADDR="+r.Masked().Addr().String(),
				p+"MASK="+netmask(r.Bits()).String(),
				p+"MASKLEN="+strconv.Itoa(r.Bits()),
				p+"PROTOCOL=0", p+"SPORT=0", p+"DPORT=0",
			)
		}
	}
	if link.Local6.IsValid() {
		// The link-local address is already on the interface.
		env = append(env,
			"INTERNAL_IP6_ADDRESS="+link.Local6.String(),
			"INTERNAL_IP6_NETMASK="+link.Local6.String()+"/64",
		)
		if len(link.Routes6) > 0 {
			env = append(env, "CISCO_IPV6_SPLIT_INC="+strconv.Itoa(len(link.Routes6)))
			for i, r := range link.Routes6 {
				p := fmt.Sprintf("CISCO_IPV6_SPLIT_INC_%d_", i)
				env = append(env, p+"ADDR="+r.Masked().Addr().String(), p+"MASKLEN="+strconv.Itoa(r.Bits()))
			}
		}
	}
	return env
}

// netmask is the dotted IPv4 netmask of a prefix length.
func netmask(bits int) netip.Addr {
	var m [4]byte
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
		case bits > 0:
			m[i] = ^byte(0xff >> bits)
		}
		bits -= 8
	}
	return netip.AddrFrom4(m)
}

// inheritedEnv is the part of environ the script inherits: everything but
// l2tpctl's own variables (L2TPCTL_…, which may hold the pre-shared key or
// the password) and any stale variables of the vpnc-script contract.
func inheritedEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "L2TPCTL_"),
			strings.HasPrefix(name, "CISCO_"),
			strings.HasPrefix(name, "INTERNAL_IP4_"),
			strings.HasPrefix(name, "INTERNAL_IP6_"),
			name == "reason", name == "TUNDEV", name == "VPNGATEWAY", name == "VPNPID":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// runScript runs the script at path for reason and waits for it (at most
// timeout). Its output goes to Deps.ScriptOutput, one prefixed line
// at a time. Its error says why it failed: a non-zero status, a signal,
// the timeout, or that it could not be started.
func runScript(path, reason string, env []string, out io.Writer, timeout time.Duration) error {
	if out == nil {
		out = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = env
	w := &lineWriter{w: out, prefix: "script " + reason + ": "}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = scriptWaitDelay
	ownProcessGroup(cmd)
	err := cmd.Run()
	w.flush()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("script %s (%s): still running after %v: killed", path, reason, timeout)
	}
	if err != nil {
		return fmt.Errorf("script %s (%s): %w", path, reason, err)
	}
	return nil
}

func (c *controller) runScript(reason string, link *LinkInfo) error {
	env := append(inheritedEnv(os.Environ()), scriptEnv(reason, c.server.Addr(), os.Getpid(), link)...)
	c.deps.Log.infof("running %s (%s)", c.cfg.Script, reason)
	return runScript(c.cfg.Script, reason, env, c.deps.ScriptOutput, scriptTimeout)
}

// scriptPreInit runs the script's pre-init before the TUN is created and
// takes the routes off tcfg: with a script, they are its job.
func (c *controller) scriptPreInit(tcfg *TUNConfig) error {
	if c.cfg.Script == "" {
		return nil
	}
	// Routes, the default route and DNS are the script's job.
	tcfg.Routes, tcfg.Routes6, tcfg.DefaultRoute, tcfg.DNSMode, tcfg.DNSDomains = nil, nil, false, DNSNone, nil
	return c.runScript(scriptPreInit, nil)
}

// scriptConnect runs the script's connect once the TUN has its address and
// MTU. Even if it fails, the script runs disconnect before the TUN goes, to
// undo whatever it did.
func (c *controller) scriptConnect(link *LinkInfo) error {
	if c.cfg.Script == "" {
		return nil
	}
	c.scriptLink = link
	return c.runScript(scriptConnect, link)
}

// scriptDisconnect runs the script's disconnect if it ran connect; its
// failure is only logged.
func (c *controller) scriptDisconnect() {
	if c.scriptLink == nil {
		return
	}
	link := c.scriptLink
	c.scriptLink = nil
	if err := c.runScript(scriptDisconnect, link); err != nil {
		c.deps.Log.errorf("%v", err)
	}
}

// lineWriter writes what it is given to w one line at a time, each with
// prefix; flush writes an unterminated last line.
type lineWriter struct {
	w      io.Writer
	prefix string
	mu     sync.Mutex
	buf    []byte // an incomplete line; caller must hold mu
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.writeLine(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.writeLine(l.buf)
		l.buf = nil
	}
}

// writeLine writes one line; write errors are ignored (the output is
// informational and must not stall the script).
func (l *lineWriter) writeLine(line []byte) {
	fmt.Fprintf(l.w, "%s%s\n", l.prefix, bytes.TrimRight(line, "\r"))
}
