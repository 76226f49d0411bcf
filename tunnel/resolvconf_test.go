package tunnel

import (
	"bytes"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

var testDNS = []netip.Addr{netip.MustParseAddr("192.168.30.1"), netip.MustParseAddr("192.168.30.2")}

// TestResolvConfRoundTrip: whatever was at the path (a file, a symlink,
// nothing) is back exactly after write and restore.
func TestResolvConfRoundTrip(t *testing.T) {
	old := []byte("# managed by someone\nnameserver 10.0.0.53\noptions edns0\n") // no trailing subtleties lost
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		check func(t *testing.T, path string)
	}{
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, old, 0o640); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, 0o640)
		}, func(t *testing.T, path string) {
			got, err := os.ReadFile(path)
			fi, _ := os.Lstat(path)
			if err != nil || !bytes.Equal(got, old) || fi.Mode() != 0o640 {
				t.Errorf("restored %q mode %v (%v), want %q mode 0640", got, fi.Mode(), err, old)
			}
		}},
		{"empty file", func(t *testing.T, path string) {
			os.WriteFile(path, nil, 0o644)
		}, func(t *testing.T, path string) {
			if got, err := os.ReadFile(path); err != nil || len(got) != 0 {
				t.Errorf("restored %q (%v), want an empty file", got, err)
			}
		}},
		{"symlink", func(t *testing.T, path string) {
			os.WriteFile(path+".target", old, 0o644)
			os.Symlink("resolv.conf.target", path)
		}, func(t *testing.T, path string) {
			if target, err := os.Readlink(path); err != nil || target != "resolv.conf.target" {
				t.Errorf("symlink %q (%v)", target, err)
			}
			if got, _ := os.ReadFile(path + ".target"); !bytes.Equal(got, old) {
				t.Errorf("symlink target written: %q", got)
			}
		}},
		{"missing", func(t *testing.T, path string) {}, func(t *testing.T, path string) {
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("file left behind: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			tc.setup(t, path)
			b, err := backupResolvConf(path)
			if err != nil {
				t.Fatal(err)
			}
			b.Written = resolvConfText("l2tp0", testDNS, []string{"corp.example"})
			if err := writeResolvConf(b); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Contains(got, []byte("nameserver 192.168.30.1\nnameserver 192.168.30.2\nsearch corp.example\n")) {
				t.Fatalf("written %q (%v)", got, err)
			}
			if fi, _ := os.Lstat(path); !fi.Mode().IsRegular() {
				t.Fatalf("written file is %v", fi.Mode())
			}
			if err := restoreResolvConf(b); err != nil {
				t.Fatal(err)
			}
			tc.check(t, path)
			if err := restoreResolvConf(b); err != nil {
				t.Errorf("second restore: %v", err)
			}
			tc.check(t, path)
		})
	}
}

// TestResolvConfInPlace: a regular file keeps its inode (a bind mount from
// "ip netns exec" stays in place) through write and restore.
func TestResolvConfInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("nameserver 127.0.0.1\n"), 0o644)
	ino := func() uint64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	b, _ := backupResolvConf(path)
	b.Written = resolvConfText("l2tp0", testDNS, nil)
	if err := writeResolvConf(b); err != nil {
		t.Fatal(err)
	}
	if ino() != before {
		t.Error("write replaced the file")
	}
	if err := restoreResolvConf(b); err != nil {
		t.Fatal(err)
	}
	if ino() != before {
		t.Error("restore replaced the file")
	}
}

// TestResolvConfChangedBySomeoneElse: a file changed after l2tpctl wrote
// it is left alone.
func TestResolvConfChangedBySomeoneElse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("nameserver 127.0.0.1\n"), 0o644)
	b, _ := backupResolvConf(path)
	b.Written = resolvConfText("l2tp0", testDNS, nil)
	writeResolvConf(b)
	newer := []byte("nameserver 10.9.9.9\n")
	os.WriteFile(path, newer, 0o644)
	if err := restoreResolvConf(b); !errors.Is(err, errResolvChanged) {
		t.Errorf("restore: %v, want errResolvChanged", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, newer) {
		t.Errorf("file now %q", got)
	}
}

func TestResolvConfTextLimits(t *testing.T) {
	many := append(testDNS, netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.4"))
	got := string(resolvConfText("vpn0", many, nil))
	if n := bytes.Count([]byte(got), []byte("nameserver ")); n != maxNameservers {
		t.Errorf("%d nameserver lines in %q", n, got)
	}
	if bytes.Contains([]byte(got), []byte("search")) {
		t.Errorf("search line without domains: %q", got)
	}
}
