package tunnel

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/pcapng"
	"github.com/l2tpctl/l2tpctl/proto/suite"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// readCapture parses the pcapng file at path and checks its interfaces.
func readCapture(t *testing.T, path string) *pcapng.File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pcapng.Parse(b)
	if err != nil {
		t.Fatalf("%s is not valid pcapng: %v", path, err)
	}
	if len(f.Interfaces) != 2 || f.Interfaces[capOuter].Name != "outer" || f.Interfaces[capL2TP].Name != "l2tp" ||
		f.Interfaces[0].LinkType != pcapng.LinkTypeRaw || f.Interfaces[1].LinkType != pcapng.LinkTypeRaw {
		t.Fatalf("interfaces %+v", f.Interfaces)
	}
	return f
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Errorf("%s: mode %v, want a regular file with 0600", path, fi.Mode())
	}
}

// espSAEntry is a parsed line of the esp_sa key log.
type espSAEntry struct {
	src, dst         string
	spi              uint32
	t                suite.ESPTransform
	encKey, authKey  []byte
	encName, auhName string
}

// parseESPSA reads an esp_sa file and maps each line back to the transform
// whose Wireshark names and key lengths it has.
func parseESPSA(t *testing.T, path string) map[uint32]espSAEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[uint32]espSAEntry{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		if len(fields) != 8 {
			t.Fatalf("esp_sa line %q: %d fields, want 8", sc.Text(), len(fields))
		}
		for i, s := range fields {
			u, err := strconv.Unquote(s)
			if err != nil {
				t.Fatalf("esp_sa field %q is not quoted", s)
			}
			fields[i] = u
		}
		key := func(s string) []byte {
			if s == "" {
				return nil
			}
			b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
			if err != nil {
				t.Fatalf("key %q: %v", s, err)
			}
			return b
		}
		spi, err := strconv.ParseUint(strings.TrimPrefix(fields[3], "0x"), 16, 32)
		if fields[0] != "IPv4" || err != nil {
			t.Fatalf("esp_sa line %q", sc.Text())
		}
		e := espSAEntry{src: fields[1], dst: fields[2], spi: uint32(spi), encKey: key(fields[5]), authKey: key(fields[7])}
		found := false
		for _, tr := range suite.AllESPTransforms() {
			enc, auth, err := wiresharkESPNames(tr)
			if err == nil && enc == fields[4] && auth == fields[6] && len(e.encKey) == tr.EncKeyLen() && len(e.authKey) == tr.AuthKeyLen() {
				e.t, found = tr, true
			}
		}
		if !found {
			t.Fatalf("esp_sa line %q matches no transform", sc.Text())
		}
		out[e.spi] = e
	}
	return out
}

// TestE2EPcapKeylog connects with Config.Pcap and Config.KeyLog, pings,
// disconnects, and checks the capture and the keys: the outer interface
// has every IKE message and the ESP packets, the inner one the decrypted
// L2TP messages (both directions, pings included), and every ESP packet of
// the outer capture decrypts with the logged keys to an L2TP message of
// the inner one. For a CBC+HMAC suite and AES-GCM.
func TestE2EPcapKeylog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile func() peertest.Profile
	}{
		{"softether", peertest.SoftEther},
		{"gcm-only", gcmOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			dir := t.TempDir()
			p := tc.profile()
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			cfg.Pcap = filepath.Join(dir, "l2tpctl.pcapng")
			cfg.KeyLog = filepath.Join(dir, "keys")
			h := startRun(t, n, srv, cfg, nil)
			h.waitConnected()
			const pings = 3
			for seq := uint16(1); seq <= pings; seq++ {
				if !h.ping(p.Local, seq, pingTimeout) {
					t.Fatalf("no reply to ping %d", seq)
				}
			}
			h.stop()

			checkMode(t, cfg.Pcap)
			checkMode(t, filepath.Join(cfg.KeyLog, keyLogESP))
			checkMode(t, filepath.Join(cfg.KeyLog, keyLogIKEv1))
			f := readCapture(t, cfg.Pcap)
			sas := parseESPSA(t, filepath.Join(cfg.KeyLog, keyLogESP))
			ikeTable, err := os.ReadFile(filepath.Join(cfg.KeyLog, keyLogIKEv1))
			if err != nil {
				t.Fatal(err)
			}

			inner := map[string]bool{} // L2TP messages of the l2tp interface
			for _, pk := range f.Packets {
				if _, _, payload, ok := inet.ParseUDPv4(pk.Data); ok && pk.Interface == capL2TP {
					inner[string(payload)] = true
				}
			}
			var ikeOut, ikeIn, espOut, espIn, espOpened, innerOut, innerIn, echoes int
			var cookie []byte
			var last uint64
			for i, pk := range f.Packets {
				if pk.Timestamp < last {
					t.Errorf("packet %d: timestamp goes back", i)
				}
				last = pk.Timestamp
				src, dst, payload, ok := inet.ParseUDPv4(pk.Data)
				if !ok {
					t.Fatalf("packet %d on interface %d is not IPv4/UDP: %x", i, pk.Interface, pk.Data)
				}
				out := pk.Flags == pcapng.DirOutbound
				if !out && pk.Flags != pcapng.DirInbound {
					t.Fatalf("packet %d: flags %#x, want a direction", i, pk.Flags)
				}
				server, local := dst, src
				if !out {
					server, local = src, dst
				}
				if server.Addr() != e2eServer || local.Addr() != e2eClient {
					t.Fatalf("packet %d: %v → %v, want between %v and %v", i, src, dst, e2eClient, e2eServer)
				}
				if pk.Interface == capL2TP {
					if src.Port() != inet.PortL2TP || dst.Port() != inet.PortL2TP {
						t.Fatalf("inner packet %d: ports %v → %v", i, src, dst)
					}
					h, frame, err := l2tp.ParseHeader(payload)
					if err != nil {
						t.Fatalf("inner packet %d is not L2TP: %v", i, err)
					}
					if !h.Control && len(frame) > 4+20 && frame[2] == 0x00 && frame[3] == 0x21 && frame[4+9] == inet.ProtoICMP {
						echoes++
					}
					if out {
						innerOut++
					} else {
						innerIn++
					}
					continue
				}
				switch {
				case server.Port() == DefaultIKEPort || inet.HasNonESPMarker(payload):
					msg := payload
					if server.Port() != DefaultIKEPort {
						msg = payload[inet.NonESPMarkerLen:]
					}
					if cookie == nil {
						cookie = msg[:8]
					}
					if out {
						ikeOut++
					} else {
						ikeIn++
					}
				case inet.IsKeepalive(payload):
				default:
					if out {
						espOut++
					} else {
						espIn++
					}
					spi, _ := esp.PeekSPI(payload)
					e, ok := sas[spi]
					if !ok {
						t.Fatalf("ESP packet %d: SPI 0x%08x not in the key log", i, spi)
					}
					if e.src != src.Addr().String() || e.dst != dst.Addr().String() {
						t.Errorf("key log SPI 0x%08x: %s → %s, packet %v → %v", spi, e.src, e.dst, src, dst)
					}
					sa, err := esp.NewSA(spi, e.t, e.encKey, e.authKey, rand.Reader)
					if err != nil {
						t.Fatal(err)
					}
					pt, _, err := sa.Open(bytes.Clone(payload))
					if err != nil {
						t.Fatalf("ESP packet %d (SPI 0x%08x) does not open with the logged keys: %v", i, spi, err)
					}
					if _, _, msg, ok := inet.ParseUDP(pt); !ok || !inner[string(msg)] {
						t.Errorf("ESP packet %d decrypts to %x, not a message of the l2tp interface", i, pt)
					}
					espOpened++
				}
			}
			t.Logf("IKE %d out %d in, ESP %d out %d in (%d decrypted), L2TP %d out %d in, %d ICMP",
				ikeOut, ikeIn, espOut, espIn, espOpened, innerOut, innerIn, echoes)
			if ikeOut < 4 || ikeIn < 4 {
				t.Errorf("IKE messages %d out, %d in; want at least Main Mode and Quick Mode", ikeOut, ikeIn)
			}
			if espOut == 0 || espIn == 0 || innerOut < espOut-1 || innerIn == 0 {
				t.Errorf("ESP %d/%d, inner %d/%d", espOut, espIn, innerOut, innerIn)
			}
			if echoes != 2*pings {
				t.Errorf("%d ICMP packets in the l2tp interface, want %d (requests and replies)", echoes, 2*pings)
			}
			if len(sas) != 2 {
				t.Errorf("%d ESP SAs logged, want 2 (one pair)", len(sas))
			}
			want := hex.EncodeToString(cookie) + ","
			if lines := strings.Split(strings.TrimSpace(string(ikeTable)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
				t.Errorf("ikev1_decryption_table %q, want one line for cookie %s", ikeTable, want)
			}
		})
	}
}

// TestE2EPcapNoServer: against a server that never answers, the capture is
// still a valid pcapng file after Run returns, with every retransmission
// of Main Mode message 1, which is what one looks at then.
func TestE2EPcapNoServer(t *testing.T) {
	goroutineLeakCheck(t)
	dir := t.TempDir()
	n := nettest.NewNetwork()
	clock := newFakeClock()
	cfg := e2eConfig(peertest.SoftEther())
	cfg.Pcap = filepath.Join(dir, "c.pcapng")
	h := startRun(t, n, nil, cfg, clock)
	err, _, _ := h.runClock(10 * time.Minute)
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("Run = %v, want ErrNoAnswer", err)
	}
	f := readCapture(t, cfg.Pcap)
	if len(f.Packets) != 1+ikeMaxRetransmits {
		t.Fatalf("%d packets, want %d (Main Mode message 1 and its retransmissions)", len(f.Packets), 1+ikeMaxRetransmits)
	}
	for i, pk := range f.Packets {
		_, dst, msg, ok := inet.ParseUDPv4(pk.Data)
		if pk.Interface != capOuter || pk.Flags != pcapng.DirOutbound || !ok || dst.Port() != DefaultIKEPort ||
			!bytes.Equal(msg, func() []byte { _, _, m, _ := inet.ParseUDPv4(f.Packets[0].Data); return m }()) {
			t.Errorf("packet %d: %+v", i, pk)
		}
	}
	if gap := time.Duration(f.Packets[1].Timestamp - f.Packets[0].Timestamp); gap != time.Second {
		t.Errorf("first retransmission after %v of the fake clock, want 1s", gap)
	}
}

// The capture and the key log refuse to write through a symbolic link.
func TestPcapKeylogNoSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := openCapture(link, time.Now); !errors.Is(err, ErrConfig) {
		t.Errorf("openCapture through a symlink: %v, want ErrConfig", err)
	}
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(keys, keyLogESP)); err != nil {
		t.Fatal(err)
	}
	if _, err := openKeyLog(keys, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("openKeyLog with esp_sa a symlink: %v, want ErrConfig", err)
	}
	if _, err := openKeyLog(target, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("openKeyLog on a file: %v, want ErrConfig", err)
	}
	if b, _ := os.ReadFile(target); len(b) != 0 {
		t.Errorf("the link's target was written: %q", b)
	}
}

// TestE2EKeylogTshark checks the key log against Wireshark itself, when
// tshark is installed (scripts/peer-install.sh installs it; scripts/test.sh
// runs this test again after that step, with L2TPCTL_E2E=1, where a missing
// tshark is a failure under CI=true): for every ESP
// cipher and integrity algorithm, tshark decrypts each ESP packet of the
// capture with the keys (the pings show up in the outer interface) and
// finds its ICV good, and decrypts the ID payloads of Main Mode 5 and 6.
func TestE2EKeylogTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("L2TPCTL_E2E") != "" && os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed (scripts/peer-install.sh installs it)")
		}
		t.Skip("tshark not installed")
	}
	for _, esps := range [][]suite.ESPTransform{
		{{Enc: suite.ESPAESGCM16, KeyBits: 128}},
		{{Enc: suite.ESPAESGCM16, KeyBits: 256}},
		{{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1}},
		{{Enc: suite.ESPAES, KeyBits: 192, Auth: suite.AuthHMACSHA256}},
		{{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA384}},
		{{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA512}},
		{{Enc: suite.ESP3DES, KeyBits: 192, Auth: suite.AuthHMACSHA1}},
		{{Enc: suite.ESPDES, KeyBits: 64, Auth: suite.AuthHMACMD5}},
	} {
		t.Run(esps[0].String(), func(t *testing.T) {
			goroutineLeakCheck(t)
			dir := t.TempDir()
			p := peertest.SoftEther()
			p.ESP = esps
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			cfg.ESP, cfg.AllowLegacy = esps, true
			cfg.Pcap, cfg.KeyLog = filepath.Join(dir, "c.pcapng"), filepath.Join(dir, "keys")
			h := startRun(t, n, srv, cfg, nil)
			h.waitConnected()
			const pings = 2
			for seq := uint16(1); seq <= pings; seq++ {
				if !h.ping(p.Local, seq, pingTimeout) {
					t.Fatalf("no reply to ping %d", seq)
				}
			}
			h.stop()
			cmd := exec.Command(tshark, "-n", "-r", cfg.Pcap, "-Y", "frame.interface_id == 0",
				"-o", "esp.enable_authentication_check:TRUE", "-T", "fields",
				"-e", "esp.spi", "-e", "esp.icv_good", "-e", "icmp.type", "-e", "isakmp.id.type")
			cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+cfg.KeyLog)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, out)
			}
			var esp, good, icmp, ids int
			for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
				f := strings.Split(l, "\t")
				if len(f) != 4 {
					t.Fatalf("tshark line %q", l)
				}
				if f[0] != "" {
					esp++
				}
				if f[1] == "1" || f[1] == "True" {
					good++
				}
				if f[2] != "" {
					icmp++
				}
				if f[3] != "" {
					ids++
				}
			}
			// Main Mode 5 at least: a retransmission (on a loaded machine)
			// throws Wireshark's IV chain off for the messages after it.
			if esp == 0 || good != esp || icmp != 2*pings || ids < 1 {
				t.Errorf("tshark: %d ESP packets, %d with a good ICV, %d ICMP, %d with decrypted IDs; want all good, %d ICMP, ≥ 1 ID:\n%s",
					esp, good, icmp, ids, 2*pings, out)
			}
		})
	}
}

// When the writer lags, record drops and counts instead of waiting or
// queueing without bound (here no writer runs at all).
func TestCaptureDropsWhenFull(t *testing.T) {
	c := &capture{now: time.Now, q: make(chan capRecord, 2)}
	for range 3 {
		c.record(capOuter, pcapng.DirOutbound, make([]byte, 100))
	}
	c.record(capOuter, pcapng.DirOutbound, nil) // could not be built
	if got := c.lost.Load(); got != 2 {
		t.Errorf("lost %d, want 2 (queue full, no packet)", got)
	}
	big := &capture{now: time.Now, q: make(chan capRecord, 10)}
	big.record(capOuter, pcapng.DirOutbound, make([]byte, captureQueueBytes-10))
	big.record(capOuter, pcapng.DirOutbound, make([]byte, 11))
	big.record(capOuter, pcapng.DirOutbound, make([]byte, 10))
	if got, q := big.lost.Load(), big.queued.Load(); got != 1 || q != captureQueueBytes {
		t.Errorf("lost %d, queued %d bytes; want 1 and %d (the byte budget)", got, q, captureQueueBytes)
	}
}

func TestKeylogDirSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	_, err := openKeyLog(link, nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("openKeyLog on a symlinked directory: %v", err)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Errorf("files written through the link: %v", entries)
	}
}

// TestE2EKeylogReauth: across an IKE re-authentication (a second Main
// Mode, new IPsec SAs), the key log gets the second IKE SA and the new ESP
// SAs, and every ESP packet of the capture opens with the logged keys.
func TestE2EKeylogReauth(t *testing.T) {
	goroutineLeakCheck(t)
	dir := t.TempDir()
	p := peertest.SoftEther()
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.IKELifetime = MinIKELifetime
	cfg.Pcap, cfg.KeyLog = filepath.Join(dir, "c.pcapng"), filepath.Join(dir, "keys")
	clock := newWarpClock()
	h := startRun(t, n, srv, cfg, clock)
	h.waitConnected()
	if !h.ping(p.Local, 1, pingTimeout) {
		t.Fatal("no reply to the first ping")
	}
	clock.Warp(cfg.IKELifetime * 85 / 100)
	done := func(s peertest.Stats) bool { return s.Reauths == 1 && s.Phase1Up == 2 && s.IKEDeletes == 1 }
	seq := uint16(2)
	for deadline := time.Now().Add(connectTimeout); ; seq++ {
		if _, ok := srv.Wait(0, done); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no re-authentication within %v of the warp: %+v", connectTimeout, srv.Stats())
		}
		h.ping(p.Local, seq, time.Second)
	}
	for range 3 {
		seq++
		if !h.ping(p.Local, seq, pingTimeout) {
			t.Fatalf("no reply to ping %d after the re-authentication", seq)
		}
	}
	h.stop()

	ike, err := os.ReadFile(filepath.Join(cfg.KeyLog, keyLogIKEv1))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(ike)), "\n"); len(lines) != 2 || lines[0][:16] == lines[1][:16] {
		t.Errorf("ikev1_decryption_table %q, want two IKE SAs", ike)
	}
	sas := parseESPSA(t, filepath.Join(cfg.KeyLog, keyLogESP))
	if len(sas) < 4 {
		t.Errorf("%d ESP SAs logged, want at least 4 (two pairs)", len(sas))
	}
	f := readCapture(t, cfg.Pcap)
	opened := map[uint32]int{}
	for i, pk := range f.Packets {
		src, dst, payload, ok := inet.ParseUDPv4(pk.Data)
		if pk.Interface != capOuter || !ok || src.Port() == DefaultIKEPort || dst.Port() == DefaultIKEPort ||
			inet.IsKeepalive(payload) || inet.HasNonESPMarker(payload) {
			continue // not ESP
		}
		spi, _ := esp.PeekSPI(payload)
		e, ok := sas[spi]
		if !ok {
			t.Fatalf("ESP packet %d: SPI 0x%08x not in the key log", i, spi)
		}
		sa, err := esp.NewSA(spi, e.t, e.encKey, e.authKey, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sa.Open(bytes.Clone(payload)); err != nil {
			t.Fatalf("ESP packet %d (SPI 0x%08x) does not open with the logged keys: %v", i, spi, err)
		}
		opened[spi]++
	}
	if len(opened) < 4 {
		t.Errorf("ESP packets on %d SPIs, want at least 4: %v", len(opened), opened)
	}
}

// BenchmarkCapture is what --pcap costs a data packet: its outer datagram
// and its inner L2TP message recorded (copied, headers made up, queued) and
// written by the writer goroutine.
func BenchmarkCapture(b *testing.B) {
	c, err := openCapture(filepath.Join(b.TempDir(), "c.pcapng"), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	local, server := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:4500")
	pkt := make([]byte, 1400)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		c.outer(true, local, server, pkt)
		c.innerPPP(local.Addr(), server.Addr(), 1, 1, ipv4Header, pkt)
	}
	lost, err := c.close()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(lost)/float64(b.N), "lost/op")
}
