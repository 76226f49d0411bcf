package tunnel

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// DNS through systemd-resolved (DNSResolved): per-link servers and domains
// on the TUN, set with resolvectl(1). resolved forgets them when the link
// goes away, so a crash leaves nothing behind; Close still reverts them
// first.

// resolvedSocket exists while systemd-resolved runs.
const resolvedSocket = "/run/systemd/resolve/io.systemd.Resolve"

// resolvectlTimeout bounds each resolvectl call.
const resolvectlTimeout = 10 * time.Second

// resolvedRunning reports whether systemd-resolved serves this network
// namespace: it runs, resolvectl is installed, and l2tpctl is in the host's
// namespace (resolved does not see the links of other namespaces).
func resolvedRunning() bool {
	if netnsID() != "" {
		return false
	}
	if _, err := os.Stat(resolvedSocket); err != nil {
		return false
	}
	_, err := exec.LookPath("resolvectl")
	return err == nil
}

// setResolved gives iface its DNS servers and domains in systemd-resolved.
func setResolved(iface string, servers []netip.Addr, domains []string) error {
	args := []string{"dns", iface}
	for _, s := range servers {
		args = append(args, s.String())
	}
	if err := resolvectl(args...); err != nil {
		return err
	}
	if len(domains) > 0 {
		return resolvectl(append([]string{"domain", iface}, domains...)...)
	}
	return nil
}

// revertResolved drops iface's settings; a link that is gone has none.
func revertResolved(iface string) error {
	if ok, err := linkExists(iface); err == nil && !ok {
		return nil
	}
	return resolvectl("revert", iface)
}

func resolvectl(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), resolvectlTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "resolvectl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tunnel: resolvectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
