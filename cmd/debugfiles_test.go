package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --pcap and --keylog reach the tunnel as absolute paths (the same files
// after --background), each with its warning; a profile may set pcap
// (relative to its directory) but not keylog.
func TestConnectPcapKeylog(t *testing.T) {
	w := okWorld()
	args := append(append([]string{}, okArgs...), "--pcap", "c.pcapng", "--keylog", "/tmp/keys")
	if code := w.runApp(t, args...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if w.gotCfg.Pcap != filepath.Join(wd, "c.pcapng") || w.gotCfg.KeyLog != "/tmp/keys" {
		t.Errorf("Pcap %q KeyLog %q", w.gotCfg.Pcap, w.gotCfg.KeyLog)
	}
	for _, want := range []string{
		"l2tpctl: warning: --pcap " + filepath.Join(wd, "c.pcapng") + " holds the decrypted traffic",
		"l2tpctl: warning: --keylog /tmp/keys holds the IKE and ESP keys",
	} {
		if !strings.Contains(w.stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", w.stderr.String(), want)
		}
	}

	w = okWorld()
	if code := w.runApp(t, okArgs...); code != 0 || strings.Contains(w.stderr.String(), "warning") {
		t.Errorf("without the flags: exit %d, stderr %q", code, w.stderr.String())
	}

	w = profileWorld()
	w.files[office] += "pcap = \"office.pcapng\"\n"
	w.files[userDir+"/office.psk"] = "office-psk\n"
	w.files["pw"] = "pw\n"
	if code := w.runApp(t, "connect", "--profile", "office", "--password-file", "pw"); code != 0 {
		t.Fatalf("profile with pcap: exit %d, stderr %q", code, w.stderr.String())
	}
	if w.gotCfg.Pcap != userDir+"/office.pcapng" {
		t.Errorf("profile pcap: %q, want %q", w.gotCfg.Pcap, userDir+"/office.pcapng")
	}

	w = profileWorld()
	w.files[office] += "keylog = \"keys\"\n"
	if code := w.runApp(t, "connect", "--profile", "office"); code != exitUsage || !strings.Contains(w.stderr.String(), "keylog") {
		t.Errorf("profile with keylog: exit %d, stderr %q; want %d naming keylog", code, w.stderr.String(), exitUsage)
	}
}
