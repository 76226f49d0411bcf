package ppp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestOwnOptionsParseBack checks the option lists we build without an
// error path: our requests, and a Reject echoing the longest option a peer
// can send.
func TestOwnOptionsParseBack(t *testing.T) {
	c := NewClient(clientCfg())
	c.Start(t0)
	s := NewServer(pppdServer())
	s.Start(t0)
	lists := map[string][]Option{
		"client LCP":  (*clientLCP)(c).reqOptions(),
		"client IPCP": (*clientIPCP)(c).reqOptions(),
		"server LCP":  (*serverLCP)(s).reqOptions(),
		"longest":     {{Type: 99, Data: bytes.Repeat([]byte{7}, maxOptionData)}, {Type: 1}},
	}
	for name, opts := range lists {
		b := ownOptions(opts)
		back, err := ParseOptions(b)
		if err != nil || len(back) != len(opts) {
			t.Fatalf("%s: %x parses back as %v, %v", name, b, back, err)
		}
		for i := range opts {
			if back[i].Type != opts[i].Type || !bytes.Equal(back[i].Data, opts[i].Data) {
				t.Errorf("%s: option %d parsed back as %v, built %v", name, i, back[i], opts[i])
			}
		}
		if checked, err := AppendOptions(nil, opts); err != nil || !bytes.Equal(checked, b) {
			t.Errorf("%s: AppendOptions = %x, %v; ownOptions %x", name, checked, err, b)
		}
	}
	if _, err := AppendOptions(nil, []Option{{Type: 1, Data: make([]byte, maxOptionData+1)}}); err == nil {
		t.Error("AppendOptions encoded an option beyond its Length octet")
	}
}

func TestAppendFrameLimit(t *testing.T) {
	f, err := appendFrame(nil, ProtoLCP, codeConfReq, 1, make([]byte, maxPacketLen-packetHdrLen))
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if _, info, ok := ParseFrame(f); !ok || p.UnmarshalBinary(info) != nil || len(p.Data) != maxPacketLen-packetHdrLen {
		t.Fatalf("largest packet does not parse back")
	}
	if _, err := appendFrame(nil, ProtoLCP, codeConfReq, 1, make([]byte, 10), make([]byte, maxPacketLen)); !errors.Is(err, errLength) {
		t.Fatalf("oversized packet: %v", err)
	}
}

// Encoding fails for real only with data from outside; the link then goes
// Down with the error instead of sending a corrupt frame.
func TestEncodingFailureEndsLink(t *testing.T) {
	t.Run("Nak longer than a packet", func(t *testing.T) {
		// 32765 empty Auth-Protocol options: each is Nak'd with a 5-byte
		// MS-CHAPv2 suggestion, 160 KiB in all.
		c := NewClient(clientCfg())
		c.Start(t0)
		req := bytes.Repeat([]byte{lcpOptAuth, 2}, (maxPacketLen-packetHdrLen)/2)
		acts := c.Handle(t0, frame(t, ProtoLCP, codeConfReq, 1, req))
		d := downOf(acts)
		if d == nil || !errors.Is(d.Err, errLength) {
			t.Fatalf("acts = %s", describeActs(acts))
		}
		for _, f := range sends(acts) {
			if strings.HasPrefix(f, "ff03c02103") {
				t.Errorf("a Nak went out: %.40s…", f)
			}
		}
		t.Log(d.Err)
	})
	t.Run("client user name", func(t *testing.T) {
		cc := clientCfg(MSCHAPv2)
		cc.User = strings.Repeat("u", maxPacketLen)
		p := newPair(t, cc, softEtherServer())
		p.take(true, p.c.Start(p.now))
		p.run(time.Minute, func() bool { return p.cDown != nil })
		if p.cDown == nil || !errors.Is(p.cDown.Err, errLength) {
			t.Fatalf("client down = %v", p.cDown)
		}
	})
	t.Run("server name", func(t *testing.T) {
		sc := softEtherServer()
		sc.Name = strings.Repeat("s", maxPacketLen)
		p := newPair(t, clientCfg(MSCHAPv2), sc)
		p.take(true, p.c.Start(p.now))
		p.run(time.Minute, func() bool { return p.sDown != nil })
		if p.sDown == nil || !errors.Is(p.sDown.Err, errLength) {
			t.Fatalf("server down = %v", p.sDown)
		}
	})
}

func describeActs(acts []Action) string {
	var b strings.Builder
	for _, a := range acts {
		if s, ok := a.(Send); ok {
			b.WriteString(describe(s.Data))
		} else {
			fmt.Fprintf(&b, "%T%+v", a, a)
		}
		b.WriteString("; ")
	}
	return b.String()
}
