package ppp

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Seed corpora live in testdata/fuzz/FuzzXxx/ (Go corpus format); add
// crashers there. scripts/fuzz.sh runs every target for N seconds.

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{"ff03c0210101000400", "c021010100", "ff032145", "21", "", "ff03", "ff03c020"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		proto, info, ok := ParseFrame(b)
		if !ok {
			return
		}
		if !bytes.HasSuffix(b, info) || proto&1 == 0 || len(b)-len(info) > HeaderLen {
			t.Fatalf("ParseFrame(%x) = %04x, %x", b, proto, info)
		}
		if len(b)-len(info) == HeaderLen {
			h := make([]byte, HeaderLen)
			PutHeader(h, proto)
			if !bytes.Equal(append(h, info...), b) {
				t.Fatalf("re-encode %x != %x", append(h, info...), b)
			}
		}
	})
}

func FuzzParsePacket(f *testing.F) {
	for _, s := range []string{
		"0106000e01040578050601020304", "0400000a050601020304", "01000008 0304c227",
		"0103001603060000000081060000000083060000000000", "0304001003060a0000018106c0a81e01",
		"09000018000000004168", "05010003", "0101000801020578",
	} {
		f.Add(unhex(f, s))
	}
	c := NewClient(clientCfg())
	s := NewServer(softEtherServer())
	sp := NewServer(pppdServer())
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		if packetHdrLen+len(p.Data) == len(b) { // canonical: no padding
			out, err := p.AppendBinary(nil)
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("packet round trip %x → %x (%v)", b, out, err)
			}
		}
		parsePAPRequest(p.Data)
		parsePAPMessage(p.Data)
		parseCHAPValue(p.Data)
		if len(p.Data) > 0 {
			parseEAPMSv2(p.Data[1:])
			eapTypeName(p.Data[0])
		}
		opts, err := ParseOptions(p.Data)
		if err != nil {
			return
		}
		out, err := AppendOptions(nil, opts)
		if err != nil || !bytes.Equal(out, p.Data) {
			t.Fatalf("options round trip %x → %x (%v)", p.Data, out, err)
		}
		for _, o := range opts {
			(*clientLCP)(c).checkOption(o)
			(*clientIPCP)(c).checkOption(o)
			(*serverLCP)(s).checkOption(o)
			(*serverLCP)(sp).checkOption(o)
			(*serverIPCP)(s).checkOption(o)
			parseAuthOption(o.Data)
		}
		(*clientLCP)(c).gotNak(t0, opts)
		(*clientIPCP)(c).gotNak(t0, opts)
		(*clientLCP)(c).acked(opts)
		(*serverLCP)(s).acked(opts)
		(*serverLCP)(s).gotNak(t0, opts)
	})
}

// clientAtStage brings a client to a state by running it against a
// SoftEther-like server: 0 started, 1 MS-CHAPv2 waiting, 2 PAP waiting,
// 3 IPCP negotiating, 4 Up, 5 closing.
func clientAtStage(t testing.TB, stage uint8) (*Client, time.Time) {
	auth := []AuthMethod{MSCHAPv2, PAP}
	if stage == 2 {
		auth = []AuthMethod{PAP}
	}
	cc, sc := clientCfg(auth...), softEtherServer()
	cc.IPv6, sc.IPv6 = stage >= 3, stage >= 3 // IPv6CP runs in the network phase
	p := newPair(t, cc, sc)
	p.take(true, p.c.Start(p.now))
	switch stage {
	case 0:
	case 1, 2:
		p.run(time.Minute, func() bool { return p.c.phase == phaseAuth })
		p.toC = nil
	case 3:
		p.run(time.Minute, func() bool { return p.c.phase == phaseNetwork })
	default:
		p.run(time.Minute, p.bothUp)
		if stage == 5 {
			p.c.Close(p.now)
		}
	}
	return p.c, p.now
}

func checkActions(t *testing.T, acts []Action) {
	for _, a := range acts {
		if d, ok := a.(Dropped); ok {
			// The test configurations' password never shows in a reason.
			if !strings.HasPrefix(d.Reason, "ppp: ") || strings.Contains(d.Reason, "alice-pass") {
				t.Fatalf("reason %q", d.Reason)
			}
			continue
		}
		s, ok := a.(Send)
		if !ok {
			continue
		}
		if len(s.Data) < HeaderLen || s.Data[0] != 0xff || s.Data[1] != 0x03 {
			t.Fatalf("bad frame %x", s.Data)
		}
		_, info, ok := ParseFrame(s.Data)
		var p Packet
		if !ok || p.UnmarshalBinary(info) != nil || packetHdrLen+len(p.Data) != len(info) {
			t.Fatalf("bad packet %x", s.Data)
		}
	}
}

func FuzzClientHandle(f *testing.F) {
	for st := uint8(0); st < 6; st++ {
		for _, fr := range softEtherPAPExchange {
			if fr.In != "" {
				b := unhex(f, fr.In)
				f.Add(st, append([]byte{byte(len(b))}, b...))
			}
		}
	}
	f.Add(uint8(1), append([]byte{0x1d}, unhex(f, "ff03c223 01 2a 0019 10 "+rfcAuthChal+" 6c327470 64")...))
	for _, fr := range ipv6Exchange {
		if fr.In != "" && strings.Contains(fr.Note, "IPV6CP") {
			b := unhex(f, fr.In)
			f.Add(uint8(3), append([]byte{byte(len(b))}, b...))
			f.Add(uint8(4), append([]byte{byte(len(b))}, b...))
		}
	}
	f.Add(uint8(3), lp(unhex(f, "ff038057 01 01 000e 010a 0000000000000000"), nil, unhex(f, "ff03c021 08 07 000a 8057 0101 0004")))
	f.Fuzz(func(t *testing.T, stage uint8, data []byte) {
		c, now := clientAtStage(t, stage%6)
		downs := 0
		count := func(acts []Action) {
			checkActions(t, acts)
			for _, a := range acts {
				if _, ok := a.(Down); ok {
					downs++
				}
			}
		}
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			if n == 0 { // a zero length means "run the timer"
				if d := c.Deadline(); !d.IsZero() {
					now = d
				}
				count(c.Tick(now))
				continue
			}
			n = min(n, len(data))
			count(c.Handle(now, data[:n]))
			data = data[n:]
		}
		for i := 0; i < 3; i++ {
			count(c.Tick(now.Add(time.Duration(i) * time.Minute)))
		}
		count(c.Close(now))
		for d := c.Deadline(); !d.IsZero(); d = c.Deadline() {
			count(c.Tick(d))
		}
		if downs > 1 {
			t.Fatalf("%d Down actions", downs)
		}
	})
}

func FuzzMSCHAPv2Success(f *testing.F) {
	for _, s := range []string{
		rfcAuthResp + " M=Access granted", rfcAuthResp + "M=x", strings.ToLower(rfcAuthResp), "S=", "E=691 R=0 C=00 V=3 M=no",
		" " + rfcAuthResp + "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseMSCHAPv2Failure(b)
		auth, _, ok := parseMSCHAPv2Success(b)
		if !ok {
			return
		}
		trimmed := bytes.TrimLeft(b, " \t\r\n\x00")
		if got := formatAuthResponse(auth); !strings.EqualFold(got, string(trimmed[:authRespLen])) {
			t.Fatalf("parse(%q) = %s", b, got)
		}
	})
}

// FuzzServerHandle: the fake peers must not panic either (they run in
// end-to-end tests against our own, possibly buggy, client).
func FuzzServerHandle(f *testing.F) {
	f.Add(uint8(0), lp(unhex(f, "ff03c021 01 01 000e 01040578 050601020304")))
	f.Add(uint8(1), lp(unhex(f, "ff03c021 03 81 0008 0304c023"), unhex(f, "ff03c023 01 04 0015 05616c6963650a616c6963652d70617373")))
	f.Add(uint8(9), lp(unhex(f, "ff03c021 03 81 0008 0304c023"), unhex(f, "ff03c023 01 04 0015 05616c6963650a616c6963652d70617373"),
		unhex(f, "ff038057 01 01 000e 010a 0000000000000000"), unhex(f, "ff038057 01 02 000e 010a 0102030405060708")))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		sc := softEtherServer()
		sc.SoftEtherEAP = kind&4 == 4
		switch kind % 3 {
		case 1:
			sc = pppdServer()
		case 2: // EAP with both inner methods, Windows-like Success
			sc.Auth, sc.EAPMethods, sc.Insist = []AuthMethod{EAP}, []AuthMethod{MSCHAPv2, CHAPMD5}, true
			sc.MSCHAPv2Success = func(a string) string { return a + "M=ok" }
		}
		sc.EchoInterval = time.Second
		sc.IPv6 = kind&8 == 8
		s := NewServer(sc)
		now := t0
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			if n == 0 {
				if d := s.Deadline(); !d.IsZero() {
					now = d
				}
				checkActions(t, s.Tick(now))
				continue
			}
			n = min(n, len(data))
			checkActions(t, s.Handle(now, data[:n]))
			data = data[n:]
		}
		checkActions(t, s.Close(now))
	})
}

// FuzzEAPClient feeds length-prefixed frames (0: run the timer) to a
// client in the EAP authentication phase: it must never panic, answer
// with well-formed frames only, and go Down at most once.
func FuzzEAPClient(f *testing.F) {
	for _, seed := range [][]string{
		{"ff03c227 01 07 0005 01", "ff03c227 01 08 0016 04 10 11111111111111111111111111111111", "ff03c227 03 08 0004"},
		{"ff03c227 01 07 0005 01", "ff03c227 01 08 001e 1a 0108 0019 10 11111111111111111111111111111111 73727672", "ff03c227 04 08 0004"},
		{"ff03c227 01 09 0006 0d 20", "ff03c227 01 0a 0008 02 686921", "ff03c227 04 0a 0004"},
	} {
		var frames [][]byte
		for _, h := range seed {
			frames = append(frames, unhex(f, h))
		}
		f.Add(lp(frames...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := eapTestClient(t)
		now := t0
		downs := 0
		count := func(acts []Action) {
			checkActions(t, acts)
			for _, a := range acts {
				if _, ok := a.(Down); ok {
					downs++
				}
			}
		}
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			if n == 0 {
				if d := c.Deadline(); !d.IsZero() {
					now = d
				}
				count(c.Tick(now))
				continue
			}
			n = min(n, len(data))
			count(c.Handle(now, data[:n]))
			data = data[n:]
		}
		count(c.Close(now))
		for d := c.Deadline(); !d.IsZero(); d = c.Deadline() {
			count(c.Tick(d))
		}
		if downs > 1 {
			t.Fatalf("%d Down actions", downs)
		}
	})
}

// lp concatenates length-prefixed frames (the fuzz input format).
func lp(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, byte(len(f)))
		out = append(out, f...)
	}
	return out
}
