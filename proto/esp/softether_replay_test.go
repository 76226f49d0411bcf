package esp_test

// Replay of ESP traffic captured from a real SoftEther VPN Server 5.01.9674
// (Debian package softether-vpnserver, the peer scripts/peer-up.sh starts)
// on 2026-11-25.
//
// How the vectors were made: a throwaway program (kept outside the repo in
// /tmp/vecs, a module with `replace github.com/l2tpctl/l2tpctl =>
// /work/main`) ran a mini client in network namespace l2tp-cli (10.200.0.2,
// random local UDP port) against the server at 10.200.0.1:500/4500 (PSK
// "test-psk-123", user alice). It drove the proto state machines directly:
// isakmp.Initiator, then esp.NewSA for each direction, l2tp.LAC and
// ppp.Client, each with its own deterministic Rand (vectortest.Rand: SHA-256 of
// seed|counter; the ESP seeds are in the files), sent 3 ICMP echo requests
// to 192.168.30.1 through the tunnel, answered the server's LCP
// Echo-Request, and closed cleanly (LCP Terminate, CDN + StopCCN, IKE
// Deletes; the server log shows "The PPP session is disconnected because the
// upper-layer protocol "L2TP" has been disconnected" and "This IPsec SA is
// deleted"). Every ESP packet on UDP 4500 was recorded in both directions
// with the plaintext Seal was given or Open returned.
//
//   - softether_aes256sha1.json: default proposals; SoftEther chose ESP
//     aes256-sha1 (it has no SHA-2 for ESP), encapsulation mode 4.
//   - softether_aes128sha1.json: Quick Mode offering only aes128-sha1.
//
// What the replay shows:
//   - inbound: every packet SoftEther sealed opens with the negotiated keys to
//     the recorded plaintext and next header 17. This is the interop
//     evidence for Open: SoftEther's CBC IVs are chained (each IV is the last
//     ciphertext block of the previous packet, asserted below), its padding
//     is 1, 2, 3, … and its ICV is HMAC-SHA1-96 (12 bytes).
//   - outbound: sealing every recorded plaintext with the same keys and the
//     same Rand stream gives byte-identical packets. The server accepted all
//     of them (it answered each L2TP message, authenticated alice and
//     answered the pings), so our packet format, IV scheme and ICV are what
//     it expects.
//   - the decrypted payloads are inner UDP 1701→1701 carrying L2TP, and the
//     three echo replies answer the three echo requests.

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

type seESPCapture struct {
	Transform string `json:"transform"`
	EncapMode uint16 `json:"encap_mode"`
	InSPI     string `json:"in_spi"`
	OutSPI    string `json:"out_spi"`
	InEnc     string `json:"in_enc_key"`
	InAuth    string `json:"in_auth_key"`
	OutEnc    string `json:"out_enc_key"`
	OutAuth   string `json:"out_auth_key"`
	InSeed    string `json:"in_rand_seed"`
	OutSeed   string `json:"out_rand_seed"`
	Packets   []struct {
		Dir   string `json:"dir"`
		TMs   int64  `json:"t_ms"`
		What  string `json:"what"`
		Seq   uint32 `json:"seq"`
		NH    uint8  `json:"next_header"`
		Plain string `json:"plain"`
		Hex   string `json:"hex"`
	} `json:"packets"`
}

func TestSoftEtherCaptureESP(t *testing.T) {
	for _, file := range []string{"softether_aes256sha1.json", "softether_aes128sha1.json"} {
		t.Run(file, func(t *testing.T) {
			var c seESPCapture
			vectortest.LoadJSON(t, os.ReadFile, "testdata/"+file, &c)
			var tr suite.ESPTransform
			for _, x := range suite.DefaultESPTransforms(false) {
				if x.String() == c.Transform {
					tr = x
				}
			}
			if !tr.Supported() {
				t.Fatalf("transform %q not in the registry", c.Transform)
			}
			if tr.ICVLen() != 12 || c.EncapMode != 4 {
				t.Fatalf("%v: ICV %d, encap %d; SoftEther negotiated HMAC-SHA1-96 and mode 4", tr, tr.ICVLen(), c.EncapMode)
			}
			inSPI, outSPI := seSPI(t, c.InSPI), seSPI(t, c.OutSPI)
			in, err := esp.NewSA(inSPI, tr, vectortest.Hex(t, c.InEnc), vectortest.Hex(t, c.InAuth), vectortest.NewRand([]byte(c.InSeed)))
			if err != nil {
				t.Fatal(err)
			}
			out, err := esp.NewSA(outSPI, tr, vectortest.Hex(t, c.OutEnc), vectortest.Hex(t, c.OutAuth), vectortest.NewRand([]byte(c.OutSeed)))
			if err != nil {
				t.Fatal(err)
			}
			// The server's view of our outbound SA, to check that what we
			// recorded as sent is self-consistent.
			peer, err := esp.NewSA(outSPI, tr, vectortest.Hex(t, c.OutEnc), vectortest.Hex(t, c.OutAuth), vectortest.NewRand([]byte("unused")))
			if err != nil {
				t.Fatal(err)
			}

			var lastIn []byte // previous inbound packet, for the chained-IV check
			var nIn, nOut uint32
			var requests, replies []inet.ICMPEcho
			for i, p := range c.Packets {
				pkt, plain := vectortest.Hex(t, p.Hex), vectortest.Hex(t, p.Plain)
				if p.NH != esp.NextHeaderUDP {
					t.Fatalf("packet %d: next header %d", i, p.NH)
				}
				if want := len(plain) + in.Overhead(len(plain)); len(pkt) != want { // minimal padding, 12-byte ICV
					t.Errorf("packet %d (%s): %d bytes, want %d for a %d-byte payload", i, p.What, len(pkt), want, len(plain))
				}
				switch p.Dir {
				case "in":
					nIn++
					if spi, ok := esp.PeekSPI(pkt); !ok || spi != inSPI || binary.BigEndian.Uint32(pkt[4:]) != nIn || p.Seq != nIn {
						t.Fatalf("packet %d (%s): SPI %08x seq %d, want %08x seq %d", i, p.What, spi, binary.BigEndian.Uint32(pkt[4:]), inSPI, nIn)
					}
					if lastIn != nil {
						prevLast := lastIn[len(lastIn)-tr.ICVLen()-16 : len(lastIn)-tr.ICVLen()]
						if !bytes.Equal(pkt[esp.HeaderLen:esp.HeaderLen+16], prevLast) {
							t.Errorf("packet %d: SoftEther's IV is not the previous packet's last ciphertext block", i)
						}
					}
					lastIn = bytes.Clone(pkt)
					got, nh, err := in.Open(pkt)
					if err != nil {
						t.Fatalf("packet %d (%s): Open: %v", i, p.What, err)
					}
					if !bytes.Equal(got, plain) || nh != p.NH {
						t.Fatalf("packet %d (%s): Open = %x nh %d\nwant %x nh %d", i, p.What, got, nh, plain, p.NH)
					}
					if e, ok := seICMP(t, i, plain); ok {
						replies = append(replies, e)
					}
				case "out":
					nOut++
					if p.Seq != nOut {
						t.Fatalf("packet %d: recorded seq %d, want %d", i, p.Seq, nOut)
					}
					buf := make([]byte, out.Headroom()+len(plain)+out.MaxTrailer())
					copy(buf[out.Headroom():], plain)
					got, err := out.Seal(buf, out.Headroom(), len(plain), p.NH)
					if err != nil {
						t.Fatalf("packet %d: Seal: %v", i, err)
					}
					if !bytes.Equal(got, pkt) {
						t.Fatalf("packet %d (%s): Seal differs from what the server accepted\n got %x\nwant %x", i, p.What, got, pkt)
					}
					back, nh, err := peer.Open(pkt)
					if err != nil || !bytes.Equal(back, plain) || nh != p.NH {
						t.Fatalf("packet %d: recorded outbound packet does not open: %v", i, err)
					}
					if e, ok := seICMP(t, i, plain); ok {
						requests = append(requests, e)
					}
				default:
					t.Fatalf("packet %d: dir %q", i, p.Dir)
				}
			}
			if n, _, authFail, replay := in.Stats(); n != uint64(nIn) || authFail != 0 || replay != 0 {
				t.Errorf("inbound stats: %d packets, %d ICV failures, %d replays; want %d, 0, 0", n, authFail, replay, nIn)
			}
			if nIn < 10 || nOut < 10 {
				t.Errorf("only %d inbound and %d outbound packets", nIn, nOut)
			}
			if len(requests) != 3 || len(replies) != 3 {
				t.Fatalf("%d echo requests, %d replies; want 3 and 3", len(requests), len(replies))
			}
			for i, q := range requests {
				r := replies[i]
				if q.Type != inet.ICMPEchoRequest || r.Type != inet.ICMPEchoReply || r.Src != q.Dst || r.Dst != q.Src ||
					r.ID != q.ID || r.Seq != q.Seq || !bytes.Equal(r.Payload, q.Payload) {
					t.Errorf("echo %d: request %+v, reply %+v", i, q, r)
				}
			}
		})
	}
}

// seICMP checks that an ESP payload is inner UDP 1701 → 1701 carrying an
// L2TP message, and returns the ICMP echo inside a PPP IPv4 data frame.
func seICMP(t *testing.T, i int, plain []byte) (inet.ICMPEcho, bool) {
	t.Helper()
	src, dst, msg, ok := inet.ParseUDP(plain)
	if !ok || src != inet.PortL2TP || dst != inet.PortL2TP {
		t.Fatalf("packet %d: inner UDP %d→%d ok=%v", i, src, dst, ok)
	}
	h, frame, err := l2tp.ParseHeader(msg)
	if err != nil {
		t.Fatalf("packet %d: L2TP: %v", i, err)
	}
	if h.Control {
		return inet.ICMPEcho{}, false
	}
	proto, info, ok := ppp.ParseFrame(frame)
	if !ok {
		t.Fatalf("packet %d: PPP frame %x", i, frame)
	}
	if proto != ppp.ProtoIPv4 {
		return inet.ICMPEcho{}, false
	}
	if h, _, ok := inet.ParseIPv4(info); !ok || h.Protocol != inet.ProtoICMP {
		// SoftEther's SecureNAT also sends UDP broadcasts to port 7
		// ("SecureNAT Virtual TCP/IP Stack Beacon").
		if !ok {
			t.Fatalf("packet %d: bad IPv4 packet %x", i, info)
		}
		return inet.ICMPEcho{}, false
	}
	e, ok := inet.ParseICMPEcho(info)
	if !ok {
		t.Fatalf("packet %d: IPv4 packet is not an ICMP echo: %x", i, info)
	}
	return e, true
}

func seSPI(t *testing.T, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}
