package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// DNS through /etc/resolv.conf (DNSResolvConf): the file is saved in the
// state file before it is written, and put back byte for byte (or as the
// symlink it was) when the TUN closes, or by Cleanup after a crash.
//
// A regular file is rewritten in place (truncate and write), never replaced
// by rename: "ip netns exec" bind-mounts /etc/netns/NS/resolv.conf over it,
// and a mount point cannot be renamed over. A symlink (for example to
// systemd-resolved's stub file) is replaced by a regular file, so that its
// target, which belongs to someone else, is never written.

// defaultResolvConf is the file DNSResolvConf writes.
const defaultResolvConf = "/etc/resolv.conf"

// maxNameservers is how many nameserver lines the resolver reads.
// Ref: resolv.conf(5), MAXNS.
const maxNameservers = 3

// resolvBackup is the resolv.conf l2tpctl replaced, and what it wrote.
type resolvBackup struct {
	Path    string      `json:"path"`
	Missing bool        `json:"missing,omitempty"` // there was no file
	Symlink string      `json:"symlink,omitempty"` // the file was a symlink to this
	Data    []byte      `json:"data,omitempty"`    // the regular file's bytes
	Mode    fs.FileMode `json:"mode,omitempty"`    // and permissions
	Written []byte      `json:"written"`           // what l2tpctl wrote
}

// errResolvChanged: the file is no longer what l2tpctl wrote, so someone
// else owns it now and it is left alone.
var errResolvChanged = errors.New("changed by someone else since l2tpctl wrote it; left as it is")

// backupResolvConf reads what is at path now.
func backupResolvConf(path string) (*resolvBackup, error) {
	b := &resolvBackup{Path: path}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b.Missing = true
		return b, nil
	case err != nil:
		return nil, fmt.Errorf("tunnel: saving %s: %w", path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		if b.Symlink, err = os.Readlink(path); err != nil {
			return nil, fmt.Errorf("tunnel: saving %s: %w", path, err)
		}
		return b, nil
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("tunnel: %s is not a regular file or a symlink", path)
	}
	if b.Data, err = os.ReadFile(path); err != nil {
		return nil, fmt.Errorf("tunnel: saving %s: %w", path, err)
	}
	b.Mode = fi.Mode().Perm()
	return b, nil
}

// resolvConfText is the file l2tpctl writes for iface: at most
// maxNameservers servers and a search line for the domains.
func resolvConfText(iface string, servers []netip.Addr, domains []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by l2tpctl for interface %s; the previous file comes back when it exits\n", iface)
	fmt.Fprintf(&b, "# (or with \"l2tpctl cleanup --interface %s\").\n", iface)
	for i, s := range servers {
		if i == maxNameservers {
			break
		}
		fmt.Fprintf(&b, "nameserver %v\n", s)
	}
	if len(domains) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(domains, " "))
	}
	return b.Bytes()
}

// writeResolvConf writes b.Written over b.Path, which backupResolvConf saved
// into b.
func writeResolvConf(b *resolvBackup) error {
	if b.Symlink != "" {
		if err := os.Remove(b.Path); err != nil {
			return fmt.Errorf("tunnel: replacing %s: %w", b.Path, err)
		}
	}
	mode := b.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := writeInPlace(b.Path, b.Written, mode); err != nil {
		return fmt.Errorf("tunnel: writing %s: %w", b.Path, err)
	}
	return nil
}

// restoreResolvConf puts back what backupResolvConf saved, if the file still
// holds what l2tpctl wrote (errResolvChanged otherwise). A file already
// restored is not an error.
func restoreResolvConf(b *resolvBackup) error {
	if b.isRestored() {
		return nil
	}
	fi, err := os.Lstat(b.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tunnel: restoring %s: %w", b.Path, err)
	}
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("tunnel: restoring %s: %w", b.Path, errResolvChanged)
	}
	cur, err := os.ReadFile(b.Path)
	if err != nil {
		return fmt.Errorf("tunnel: restoring %s: %w", b.Path, err)
	}
	if !bytes.Equal(cur, b.Written) {
		return fmt.Errorf("tunnel: restoring %s: %w", b.Path, errResolvChanged)
	}
	switch {
	case b.Missing:
		err = os.Remove(b.Path)
	case b.Symlink != "":
		if err = os.Remove(b.Path); err == nil {
			err = os.Symlink(b.Symlink, b.Path)
		}
	default:
		if err = writeInPlace(b.Path, b.Data, b.Mode); err == nil {
			err = os.Chmod(b.Path, b.Mode)
		}
	}
	if err != nil {
		return fmt.Errorf("tunnel: restoring %s: %w", b.Path, err)
	}
	return nil
}

// isRestored reports whether b.Path already is what b saved.
func (b *resolvBackup) isRestored() bool {
	fi, err := os.Lstat(b.Path)
	switch {
	case b.Missing:
		return errors.Is(err, fs.ErrNotExist)
	case err != nil:
		return false
	case b.Symlink != "":
		target, err := os.Readlink(b.Path)
		return err == nil && target == b.Symlink
	case !fi.Mode().IsRegular():
		return false
	}
	cur, err := os.ReadFile(b.Path)
	return err == nil && bytes.Equal(cur, b.Data) && !bytes.Equal(b.Data, b.Written)
}

// writeInPlace truncates and writes the file at path (creating it with
// mode), keeping its inode: see the note at the top of this file.
func writeInPlace(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if errSync := f.Sync(); err == nil {
		err = errSync
	}
	if errClose := f.Close(); err == nil {
		err = errClose
	}
	return err
}
