package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSoftEtherProfile connects with nothing but --profile: the server,
// the secrets (one inline, one from a file), the user and the route all
// come from a TOML profile, and a ping goes through the tunnel.
func TestSoftEtherProfile(t *testing.T) {
	p := needPeer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "softether.toml")
	profile := fmt.Sprintf(`# l2tpctl profile for the SoftEther test peer
server = %q
psk = %q
user = %q
password-file = %q
route = ["192.168.30.0/24"]
auth = ["mschapv2"]
`, p.get("SERVER_ADDR"), p.get("PSK"), p.get("VPN_USER"), filepath.Join(p.dir, "pw"))
	if err := os.WriteFile(path, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}

	c := p.start(t, "--profile", path)
	c.waitConnected(30 * time.Second)
	if out, err := p.inClient(t, 10*time.Second, "ping", "-c", "2", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping through the tunnel: %v\n%s", err, out)
	}
	if _, code := c.interrupt(); code != 0 {
		t.Fatalf("exit code after SIGINT = %d, want 0", code)
	}
	if out := c.output(); strings.Contains(out, p.get("PSK")) {
		t.Errorf("the inline pre-shared key appears in the output:\n%s", out)
	}

	// The same profile readable by others is refused before anything is
	// sent, with exit code 2 and the fix.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c = p.start(t, "--profile", path)
	if _, code := c.wait(time.Now(), 10*time.Second); code != 2 || !strings.Contains(c.output(), "chmod 600") {
		t.Fatalf("exit code %d, output %q; want 2 and a hint with chmod 600", code, c.output())
	}
}
