package ppp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func sends(acts []Action) []string {
	var s []string
	for _, a := range acts {
		if x, ok := a.(Send); ok {
			s = append(s, fmt.Sprintf("%x", x.Data))
		}
	}
	return s
}

func downOf(acts []Action) *Down {
	for _, a := range acts {
		if d, ok := a.(Down); ok {
			return &d
		}
	}
	return nil
}

func TestAfterUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		sends []string
		err   func(error) bool
	}{
		{"unknown LCP code → Code-Reject", "ff03c021 20 05 0006 abcd",
			[]string{"ff03c021 07 07 000a 2005 0006abcd"}, nil},
		{"unknown IPCP code → Code-Reject", "ff038021 09 05 0004",
			[]string{"ff038021 07 09 0008 0905 0004"}, nil},
		{"Discard-Request ignored", "ff03c021 0b 01 0008 00000000", nil, nil},
		{"Echo-Reply ignored", "ff03c021 0a 01 0008 00000000", nil, nil},
		{"Code-Reject of Echo tolerated", "ff03c021 07 01 0008 09010004", nil, nil},
		{"Code-Reject of Conf-Req fatal", "ff03c021 07 01 0008 01010004", nil,
			func(err error) bool { return errors.Is(err, ErrProtocolRejected) }},
		{"Protocol-Reject of IPCP fatal", "ff03c021 08 01 0008 8021 0101", []string{"ff03c021 05 08 0004"},
			func(err error) bool {
				return errors.Is(err, ErrProtocolRejected) && strings.Contains(err.Error(), "IPCP")
			}},
		{"Protocol-Reject of IPV6CP tolerated", "ff03c021 08 01 0008 8057 0101", nil, nil},
		{"IPCP Terminate-Request", "ff038021 05 09 0004", []string{"ff038021 06 09 0004", "ff03c021 05 08 0004"},
			func(err error) bool {
				var te *TerminatedError
				return errors.As(err, &te) && te.Phase == "network"
			}},
		{"LCP Terminate-Request with reason", "ff03c021 05 09 0008 62796521", []string{"ff03c021 06 09 0004"},
			func(err error) bool { return err.Error() == "ppp: peer terminated the link during network: bye!" }},
		{"IPCP renegotiation", "ff038021 01 33 000a 0306 0a000001", []string{"ff03c021 05 08 0004"},
			func(err error) bool { return strings.Contains(err.Error(), "restarted IPCP") }},
		{"LCP renegotiation", "ff03c021 01 33 0008 0104 05dc", []string{"ff03c021 05 08 0004"},
			func(err error) bool { return strings.Contains(err.Error(), "restarted LCP") }},
		{"retransmitted IPCP Conf-Req re-Acked", "ff038021 01 44 000a 0306 c0a81e01",
			[]string{"ff038021 02 44 000a 0306 c0a81e01"}, nil},
		{"bad frame", "ff03", nil, nil},
		{"short packet", "ff03c021 01", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, now := clientAtStage(t, 4)
			acts := c.Handle(now, unhex(t, tc.in))
			var want []string
			for _, s := range tc.sends {
				want = append(want, stripSpaces(s))
			}
			if got := sends(acts); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("sent %v, want %v", got, want)
			}
			d := downOf(acts)
			switch {
			case tc.err == nil && d != nil:
				t.Errorf("unexpected Down %v", d.Err)
			case tc.err != nil && (d == nil || !tc.err(d.Err)):
				t.Errorf("Down = %v", d)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for p, want := range map[uint16]string{ProtoLCP: "LCP", ProtoIPCP: "IPCP", ProtoPAP: "PAP", ProtoCHAP: "CHAP",
		ProtoEAP: "EAP", ProtoIPv4: "IPv4", ProtoIPv6: "IPv6", ProtoIPV6CP: "IPV6CP", ProtoCCP: "CCP", 0x80ab: "protocol 0x80ab"} {
		if got := protoName(p); got != want {
			t.Errorf("%04x: %s", p, got)
		}
	}
	if stOpened.String() != "Opened" || fsmState(99).String() != "fsmState(99)" || phaseAuth.String() != "authentication" {
		t.Error("state names")
	}
	for _, e := range []error{
		&AuthError{Method: PAP, User: "bob"},
		&TerminatedError{Phase: "lcp"},
		&noCommonAuthError{offered: []AuthMethod{CHAPMD5}, server: true},
		&noCommonAuthError{},
	} {
		if !strings.HasPrefix(e.Error(), "ppp: ") {
			t.Errorf("%q lacks prefix", e.Error())
		}
	}
}

func TestServerSide(t *testing.T) {
	// A client that Rejects the Auth-Protocol outright and the SoftEther
	// server running out of methods.
	s := NewServer(softEtherServer())
	s.Start(t0)
	var down *Down
	for i := 0; i < 3 && down == nil; i++ {
		id := s.lcp.id
		acts := s.Handle(t0, frame(t, ProtoLCP, codeConfRej, id, ownOptions(s.lcp.h.reqOptions())))
		down = downOf(acts)
	}
	if down == nil || !errors.Is(down.Err, ErrNoCommonAuth) {
		t.Fatalf("down = %v", down)
	}
	// EAP accepted by a peer, and the server has no EAP method after the
	// Identity (SoftEther has only EAP-TLS): EAP Failure.
	sc := softEtherServer()
	p := newPair(t, clientCfg(), sc)
	p.s.Start(t0)
	acts := p.s.Handle(t0, frame(t, ProtoLCP, codeConfAck, p.s.lcp.id, p.s.lcp.req))
	acts = append(acts, p.s.Handle(t0, frame(t, ProtoLCP, codeConfReq, 1, nil))...)
	acts = append(acts, p.s.Handle(t0, frame(t, ProtoEAP, eapCodeResponse, p.s.eapID, []byte{eapTypeIdentity, 'a'}))...)
	if d := downOf(acts); d == nil || !errors.Is(d.Err, errEAPNoMethod) {
		t.Fatalf("acts = %v", acts)
	}
	// A client requesting ACCM, PFC, ACFC and Magic from the pppd-like
	// server: PFC/ACFC Rejected.
	s = NewServer(pppdServer())
	s.Start(t0)
	acts = s.Handle(t0, unhex(t, "ff03c021 01 01 0014 0206ffffffff 0702 0802 050601020304"))
	if got := sends(acts); len(got) != 1 || got[0] != "ff03c0210401000807020802" {
		t.Fatalf("sent %v", got)
	}
	// Magic 0 Nak'd; ACCM+Magic Acked.
	acts = s.Handle(t0, unhex(t, "ff03c021 01 02 000a 050600000000"))
	if got := sends(acts); len(got) != 1 || !strings.HasPrefix(got[0], "ff03c0210302000a0506") {
		t.Fatalf("sent %v", got)
	}
}
