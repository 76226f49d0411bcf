package l2tp

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestHideValueVector checks the hiding of RFC 2661 §4.3 against values
// computed by hand from its definition: b1 = MD5(type + secret + RV),
// c1 = p1 xor b1, b2 = MD5(secret + c1), c2 = p2 xor b2.
func TestHideValueVector(t *testing.T) {
	secret, rv := []byte("s3cret"), []byte("0123456789abcdef")
	value := []byte{0x12, 0x34} // an Assigned Tunnel ID
	pad := bytes.Repeat([]byte{0xaa}, 20)
	p := append([]byte{0x00, 0x02}, value...)
	p = append(p, pad...) // 24 bytes: one chunk and a short one

	b1 := md5.Sum(append(append([]byte{0x00, 0x09}, secret...), rv...))
	want := make([]byte, len(p))
	for i := 0; i < 16; i++ {
		want[i] = p[i] ^ b1[i]
	}
	b2 := md5.Sum(append(append([]byte(nil), secret...), want[:16]...))
	for i := 16; i < len(p); i++ {
		want[i] = p[i] ^ b2[i-16]
	}
	got := hideValue(AVPAssignedTunnelID, secret, rv, value, pad)
	if !bytes.Equal(got, want) {
		t.Fatalf("hideValue = %x, want %x", got, want)
	}
	// The same, computed independently of Go (Python's hashlib).
	if golden := "4a47c89002aec232e71fb3fe95cce1cb0b1f22b78377202c"; hex.EncodeToString(got) != golden {
		t.Fatalf("hideValue = %x, want the golden %s", got, golden)
	}
	back, err := unhideValue(AVPAssignedTunnelID, secret, rv, got)
	if err != nil || !bytes.Equal(back, value) {
		t.Fatalf("unhideValue = %x, %v; want %x", back, err, value)
	}
}

func TestHideUnhideRoundTrip(t *testing.T) {
	secret := []byte("another secret")
	for n := 0; n <= 40; n++ {
		value := bytes.Repeat([]byte{byte(n)}, n)
		for _, padLen := range []int{0, hidePadding(n), 3} {
			rv := make([]byte, 1+n%17)
			rand.Read(rv)
			pad := make([]byte, padLen)
			h := hideValue(AVPChallengeResponse, secret, rv, value, pad)
			if padLen == hidePadding(n) && len(h)%16 != 0 {
				t.Errorf("n=%d: hidden length %d not a multiple of 16", n, len(h))
			}
			got, err := unhideValue(AVPChallengeResponse, secret, rv, h)
			if err != nil || !bytes.Equal(got, value) {
				t.Fatalf("n=%d pad=%d: %x, %v", n, padLen, got, err)
			}
		}
	}
	// The wrong secret (almost always) yields a length that does not fit.
	h := hideValue(AVPAssignedSessionID, secret, []byte("rv"), []byte{0, 1}, make([]byte, hidePadding(2)))
	if v, err := unhideValue(AVPAssignedSessionID, []byte("wrong"), []byte("rv"), h); err == nil && bytes.Equal(v, []byte{0, 1}) {
		t.Errorf("unhid with the wrong secret: %x", v)
	}
	if _, err := unhideValue(AVPAssignedSessionID, secret, nil, []byte{1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("1-byte hidden value: %v, want ErrMalformed", err)
	}
}

// TestChallengeResponse: MD5 of the message type as one octet, the secret
// and the challenge (RFC 2661 §4.4.3, §5.1.1).
func TestChallengeResponse(t *testing.T) {
	secret, chal := []byte("xyz"), []byte{1, 2, 3, 4}
	want := md5.Sum([]byte{2, 'x', 'y', 'z', 1, 2, 3, 4})
	if got := challengeResponse(MsgSCCRP, secret, chal); !bytes.Equal(got, want[:]) {
		t.Errorf("SCCRP response %x, want %x", got, want)
	}
	want = md5.Sum([]byte{3, 'x', 'y', 'z', 1, 2, 3, 4})
	if got := challengeResponse(MsgSCCCN, secret, chal); !bytes.Equal(got, want[:]) {
		t.Errorf("SCCCN response %x, want %x", got, want)
	}
	if hex.EncodeToString(challengeResponse(MsgSCCRP, secret, chal)) != "114699931ee8d782e4c77e64368f39d7" ||
		hex.EncodeToString(challengeResponse(MsgSCCCN, secret, chal)) != "121d505c6c4ab799da027709d4531486" {
		t.Error("challengeResponse differs from the golden values (Python's hashlib)")
	}
	if !checkResponse(MsgSCCCN, secret, chal, want[:]) || checkResponse(MsgSCCRP, secret, chal, want[:]) || checkResponse(MsgSCCCN, secret, chal, want[:15]) {
		t.Error("checkResponse")
	}
}

// TestUnhideRandomVectors: each hidden AVP takes the last Random Vector
// before it; the Random Vector may be anywhere, also with nothing hidden.
func TestUnhideRandomVectors(t *testing.T) {
	secret := []byte("k")
	rv1, rv2 := []byte("first vector...."), []byte("second")
	m := newMessage(MsgSCCRP,
		AVP{Mandatory: true, Type: AVPRandomVector, Value: rv1},
		AVP{Mandatory: true, Hidden: true, Type: AVPAssignedTunnelID, Value: hideValue(AVPAssignedTunnelID, secret, rv1, []byte{0, 7}, nil)},
		AVP{Mandatory: true, Type: AVPRandomVector, Value: rv2},
		AVP{Hidden: true, Type: AVPVendorName, Value: hideValue(AVPVendorName, secret, rv2, []byte("acme"), []byte{9, 9, 9})},
		AVP{Mandatory: true, Type: AVPRandomVector, Value: []byte("unused")},
	)
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Message
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if a, err := got.unhide(secret); err != nil {
		t.Fatalf("unhide: AVP %+v: %v", a, err)
	}
	if v, ok := got.Uint16(AVPAssignedTunnelID); !ok || v != 7 {
		t.Errorf("Assigned Tunnel ID %d %v", v, ok)
	}
	if v, ok := got.Text(AVPVendorName); !ok || v != "acme" {
		t.Errorf("Vendor Name %q %v", v, ok)
	}
	if a, ok := got.unknownMandatory(); ok {
		t.Errorf("unknown mandatory %+v", a)
	}

	// A hidden AVP before any Random Vector cannot be unhidden.
	m = newMessage(MsgHello, AVP{Hidden: true, Type: AVPVendorName, Value: make([]byte, 16)})
	if a, err := m.unhide(secret); err == nil || a == nil {
		t.Error("unhid without a Random Vector")
	}
	// Without a secret nothing changes.
	m = newMessage(MsgHello, AVP{Mandatory: true, Type: AVPRandomVector, Value: rv1}, AVP{Hidden: true, Type: AVPVendorName, Value: make([]byte, 16)})
	if _, err := m.unhide(nil); err != nil || !m.AVPs[2].Hidden {
		t.Errorf("unhide(nil) = %v, AVP %+v", err, m.AVPs[2])
	}
}

func authLink(t *testing.T, lacSecret, lnsSecret string) *link {
	t.Helper()
	lac := LACConfig{Rand: rand.Reader, HostName: "lac"}
	lns := LNSConfig{Rand: rand.Reader, HostName: "lns"}
	if lacSecret != "" {
		lac.Secret = []byte(lacSecret)
	}
	if lnsSecret != "" {
		lns.Secret = []byte(lnsSecret)
	}
	return newLink(t, lac, LNSConfig(lns))
}

func closedErr(s *side) error {
	if c, ok := find[Closed](s.events); ok {
		return c.Err
	}
	return nil
}

func TestTunnelAuth(t *testing.T) {
	t.Run("same secret", func(t *testing.T) {
		l := authLink(t, "shared", "shared")
		l.runUntil(func() bool { return sessionUp(&l.lac) && sessionUp(&l.lns) })
		if c, ok := find[Closed](append(l.lac.events, l.lns.events...)); ok {
			t.Fatalf("closed: %v", c.Err)
		}
	})
	t.Run("only the LAC has a secret", func(t *testing.T) {
		// The LNS ignores our Challenge, as a server without tunnel
		// authentication does.
		l := authLink(t, "shared", "")
		l.runUntil(func() bool { return closedErr(&l.lac) != nil })
		err := closedErr(&l.lac)
		var ae *TunnelAuthError
		if !errors.As(err, &ae) || ae.NoSecret || !errors.Is(err, ErrTunnelAuth) || !strings.Contains(err.Error(), "did not answer our Challenge") {
			t.Fatalf("LAC closed with %v", err)
		}
		if sessionUp(&l.lac) {
			t.Error("session up")
		}
	})
	t.Run("the LNS wants a secret", func(t *testing.T) {
		l := authLink(t, "", "shared")
		l.runUntil(func() bool { return closedErr(&l.lac) != nil })
		err := closedErr(&l.lac)
		if !errors.Is(err, ErrSecretRequired) || errors.Is(err, ErrTunnelAuth) || !strings.Contains(err.Error(), "wants an L2TP tunnel secret") {
			t.Fatalf("LAC closed with %v", err)
		}
		var se *StopError
		if !errors.As(err, &se) || !se.Local || !se.Tunnel {
			t.Errorf("no local StopError in %v", err)
		}
		// The LNS hid its Assigned Tunnel ID, so our StopCCN goes to
		// tunnel 0 and the LNS never hears of it: it times out.
	})
	t.Run("wrong secret", func(t *testing.T) {
		// The LAC finds the LNS's Challenge Response wrong: a hidden AVP
		// does not decode first, or the response does not match.
		l := authLink(t, "ours", "theirs")
		l.runUntil(func() bool { return closedErr(&l.lac) != nil })
		err := closedErr(&l.lac)
		if !errors.Is(err, ErrTunnelAuth) || !strings.Contains(err.Error(), "secret is probably wrong") {
			t.Fatalf("LAC closed with %v", err)
		}
		if strings.Contains(err.Error(), "ours") || strings.Contains(err.Error(), "theirs") {
			t.Errorf("error shows a secret: %v", err)
		}
	})
	t.Run("wrong secret, nothing hidden", func(t *testing.T) {
		l := newLink(t, LACConfig{Rand: rand.Reader, Secret: []byte("ours")}, LNSConfig{Rand: rand.Reader, Secret: []byte("theirs"), PlainAVPs: true})
		l.runUntil(func() bool { return closedErr(&l.lac) != nil })
		err := closedErr(&l.lac)
		if !errors.Is(err, ErrTunnelAuth) || !strings.Contains(err.Error(), "Challenge Response does not match: the L2TP secret is probably wrong") {
			t.Fatalf("LAC closed with %v", err)
		}
		l.drain()
		if err := closedErr(&l.lns); err == nil {
			t.Error("the LNS did not get our StopCCN")
		}
	})
	t.Run("xl2tpd refuses our response", func(t *testing.T) {
		// xl2tpd 1.3.18 answers a wrong Challenge Response with StopCCN
		// result 2, error 6, "Invalid challenge authentication".
		l := authLink(t, "shared", "shared")
		l.runUntil(func() bool { _, ok := find[TunnelUp](l.lac.events); return ok })
		l.lns.inbox = nil // the SCCCN never arrives: the LNS answers in its stead
		acts := lnsSends(t, l, stopCCN(7, StopResultError, ErrorCodeVendor, "Invalid challenge authentication"), 0)
		c, ok := find[Closed](acts)
		if !ok {
			t.Fatalf("acts %+v, want Closed", acts)
		}
		var ae *TunnelAuthError
		if !errors.As(c.Err, &ae) || !errors.Is(c.Err, ErrTunnelAuth) ||
			!strings.Contains(c.Err.Error(), `right after our Challenge Response: the L2TP secret is probably wrong (server's StopCCN: result 2, general error, "Invalid challenge authentication")`) {
			t.Fatalf("LAC closed with %v", c.Err)
		}
	})
	t.Run("StopCCN after the call is up is no auth failure", func(t *testing.T) {
		l := authLink(t, "shared", "shared")
		l.runUntil(func() bool { return sessionUp(&l.lac) })
		acts := lnsSends(t, l, stopCCN(7, StopResultError, ErrorCodeVendor, "bye"), 0)
		if c, ok := find[Closed](acts); !ok || errors.Is(c.Err, ErrTunnelAuth) {
			t.Fatalf("acts %+v", acts)
		}
	})
	t.Run("LNS refuses our response", func(t *testing.T) {
		// The LNS's own answer checks out (we tamper only with its
		// Challenge), but our response to it is wrong for the LNS: it
		// sends StopCCN result 4.
		l := authLink(t, "shared", "shared")
		l.fault = func(n int, pkt []byte) [][]byte {
			var m Message
			if m.UnmarshalBinary(pkt) != nil || m.Type() != MsgSCCRP {
				return [][]byte{pkt}
			}
			for i := range m.AVPs {
				if m.AVPs[i].Type == AVPChallenge {
					m.AVPs[i].Value = append([]byte(nil), m.AVPs[i].Value...)
					m.AVPs[i].Value[0] ^= 1
				}
			}
			b, _ := m.AppendBinary(nil)
			return [][]byte{b}
		}
		l.runUntil(func() bool { return closedErr(&l.lac) != nil })
		err := closedErr(&l.lac)
		var ae *TunnelAuthError
		if !errors.As(err, &ae) || ae.Stop == nil || ae.Stop.Local || ae.Stop.Result != StopResultUnauthorized {
			t.Fatalf("LAC closed with %#v", err)
		}
		if !strings.Contains(err.Error(), "refused our Challenge Response") || !strings.Contains(err.Error(), "result 4") {
			t.Errorf("error %q", err)
		}
		if err := closedErr(&l.lns); !errors.Is(err, ErrTunnelAuth) {
			t.Errorf("LNS closed with %v", err)
		}
	})
}

// TestHiddenOnTheWire: with a secret, SCCRQ carries a Challenge and a
// Random Vector before the hidden Assigned Tunnel ID; ICRQ hides the
// Assigned Session ID; nothing else is hidden.
func TestHiddenOnTheWire(t *testing.T) {
	l := authLink(t, "shared", "shared")
	var sent []string
	record := func(pkt []byte) {
		var m Message
		if err := m.UnmarshalBinary(pkt); err != nil {
			t.Fatal(err)
		}
		var desc []string
		for _, a := range m.AVPs[min(1, len(m.AVPs)):] {
			d := hex.EncodeToString([]byte{byte(a.Type)})
			if a.Hidden {
				d += "h"
			}
			desc = append(desc, d)
		}
		sent = append(sent, what(&m)+":"+strings.Join(desc, ","))
	}
	for _, p := range l.lns.inbox { // SCCRQ, sent by Start
		record(p)
	}
	l.fault = func(n int, pkt []byte) [][]byte { record(pkt); return [][]byte{pkt} }
	l.runUntil(func() bool { return sessionUp(&l.lac) && sessionUp(&l.lns) })
	want := []string{
		"SCCRQ:02,03,04,07,08,09,0a,0b",         // nothing hidden, the Challenge last
		"SCCRP:02,03,04,07,08,24,09h,0a,0dh,0b", // one vector for the tunnel ID and the Challenge Response
		"SCCCN:24,0dh",
		"ICRQ:24,0eh,0f,12",
		"ICRP:24,0eh",
		"ICCN:18,13",
	}
	var got []string
	for _, s := range sent {
		if s != "ZLB:" {
			got = append(got, s)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sent\n %q\nwant\n %q", got, want)
	}
}

// TestNotices: Set-Link-Info and WAN-Error-Notify for our call are
// acknowledged and reported as a Notice with their values.
func TestNotices(t *testing.T) {
	l := authLink(t, "shared", "shared")
	l.runUntil(func() bool { return sessionUp(&l.lac) && sessionUp(&l.lns) })
	l.drain()
	s := l.lns.m.(*LNS)
	l.lns.apply(l, s.SetLinkInfo(l.now, 0xffffffff, 0x000a0000), &l.lac)
	l.lns.apply(l, s.WANErrorNotify(l.now, [6]uint32{1, 2, 3, 4, 5, 6}), &l.lac)
	l.drain()
	h := hello()
	h.AVPs = append(h.AVPs, AVP{Vendor: 9, Type: 1, Value: []byte{1}}, AVP{Type: 99}, AVP{Mandatory: true, Type: AVPRandomVector, Value: []byte{1}})
	l.lac.events = append(l.lac.events, lnsSends(t, l, h, 0)...)
	var notes []string
	for _, a := range l.lac.events {
		if n, ok := a.(Notice); ok {
			notes = append(notes, n.Text)
		}
	}
	want := []string{
		"Set-Link-Info: send ACCM 0xffffffff, receive ACCM 0x000a0000 (nothing to do: no async framing over L2TP)",
		"WAN-Error-Notify: CRC errors 1, framing errors 2, hardware overruns 3, buffer overruns 4, time-outs 5, alignment errors 6",
		"HELLO: ignored AVPs without the M bit: vendor 9 type 1 (1 bytes), vendor 0 type 99 (0 bytes)",
	}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Errorf("notices\n %q\nwant\n %q", notes, want)
	}
	if !s.rel.idle() {
		t.Error("the LAC did not acknowledge them")
	}
}

// TestHiddenWithoutSecret: a hidden mandatory AVP from a peer while we have
// no secret closes the tunnel, saying the server wants a secret.
func TestHiddenWithoutSecret(t *testing.T) {
	l := bringUp(t, nil, false)
	m := newMessage(MsgSLI, AVP{Mandatory: true, Type: AVPRandomVector, Value: []byte("rv")},
		AVP{Mandatory: true, Hidden: true, Type: AVPACCM, Value: make([]byte, 16)})
	types, closed := decodeSends(t, lnsSends(t, l, m, 0x5678))
	if len(types) != 1 || types[0] != MsgStopCCN || len(closed) != 1 {
		t.Fatalf("sent %v, closed %+v; want StopCCN and Closed", types, closed)
	}
	if err := closed[0].Err; !errors.Is(err, ErrSecretRequired) || !strings.Contains(err.Error(), "hidden AVP type 35 in SLI") {
		t.Errorf("Closed.Err = %v", err)
	}
}

// fuzzSecret is the secret of the fuzz targets that need one.
var fuzzSecret = []byte("fuzz-secret")

// FuzzUnhide: unhiding never panics, and a value that unhides hides back
// to the same bytes with the same vector and the padding it carried.
func FuzzUnhide(f *testing.F) {
	f.Add([]byte("rv"), hideValue(AVPAssignedTunnelID, fuzzSecret, []byte("rv"), []byte{0, 7}, make([]byte, 12)))
	f.Add([]byte{}, []byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, rv, hidden []byte) {
		if len(rv) > maxAVPValueLen || len(hidden) > maxAVPValueLen {
			return // no AVP carries more (10-bit Length); the cost grows with the length
		}
		v, err := unhideValue(AVPChallengeResponse, fuzzSecret, rv, hidden)
		if err != nil {
			return
		}
		sub := append([]byte(nil), hidden...)
		hideKeys(AVPChallengeResponse, fuzzSecret, rv, sub, false)
		pad := sub[2+len(v):]
		if again := hideValue(AVPChallengeResponse, fuzzSecret, rv, v, pad); !bytes.Equal(again, hidden) {
			t.Fatalf("hide(unhide(%x)) = %x", hidden, again)
		}
	})
}

// FuzzLACHandleSecret: a LAC with a secret, waiting for SCCRP or up, takes
// any packet without panicking and sends only what decodes.
func FuzzLACHandleSecret(f *testing.F) {
	// The SCCRP of an LNS with the secret, to this LAC's SCCRQ.
	c := NewLAC(LACConfig{Rand: fixedRandN(64), Secret: fuzzSecret})
	s := NewLNS(LNSConfig{Rand: fixedRandN(64), Secret: fuzzSecret})
	for _, a := range c.Start(t0) {
		if snd, ok := a.(Send); ok {
			for _, b := range s.Handle(t0, snd.Data) {
				if snd, ok := b.(Send); ok {
					f.Add(snd.Data)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewLAC(LACConfig{Rand: fixedRandN(64), Secret: fuzzSecret})
		acts := c.Start(t0)
		acts = append(acts, c.Handle(t0, b)...)
		acts = append(acts, c.Handle(t0, b)...)
		acts = append(acts, c.Close(t0)...)
		for _, a := range acts {
			if snd, ok := a.(Send); ok {
				var m Message
				if err := m.UnmarshalBinary(snd.Data); err != nil {
					t.Fatalf("sent undecodable %x: %v", snd.Data, err)
				}
			}
			if c, ok := a.(Closed); ok && c.Err != nil && strings.Contains(c.Err.Error(), string(fuzzSecret)) {
				t.Fatalf("error shows the secret: %v", c.Err)
			}
		}
	})
}

// fixedRandN is a deterministic random source of n*16 bytes.
func fixedRandN(n int) *bytes.Reader {
	b := make([]byte, 16*n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return bytes.NewReader(b)
}
