package ppp

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The client with IPv6 against a server that runs IPv6CP, written by hand
// from RFC 1661/1332/5072. The server proposes our own identifier first (a
// collision) and takes the one we suggest. Rand: the magic takes fc fd fe
// ff; LCP ids after 00, IPCP after 02 (first 3), IPv6CP after 04 (first
// 5), PAP id 06; our identifier 0708090a0b0c0d0e, the suggestion for the
// server 0f10111213141516.
var ipv6Exchange = []replayStep{
	{Note: ">> LCP Conf-Req id=1 [MRU=1400, Magic]",
		Out: []string{"ff03c021 01 01 000e | 01 04 0578 | 05 06 fcfdfeff"}},
	{Note: "<< LCP Conf-Ack id=1",
		In: "ff03c021 02 01 000e | 01 04 0578 | 05 06 fcfdfeff"},
	{Note: "<< LCP Conf-Req id=0 [Auth=PAP] >> Conf-Ack, PAP Auth-Req",
		In: "ff03c021 01 00 0008 | 03 04 c023",
		Out: []string{
			"ff03c021 02 00 0008 | 03 04 c023",
			"ff03c023 01 06 0015 | 05 616c696365 | 0a 616c6963652d70617373",
		},
		Events: []string{"{1500}"}},
	{Note: "<< PAP Auth-Ack >> IPCP Conf-Req, IPV6CP Conf-Req [IID]",
		In: "ff03c023 02 06 0005 00",
		Out: []string{
			"ff038021 01 03 0016 | 03 06 00000000 | 81 06 00000000 | 83 06 00000000",
			"ff038057 01 05 000e | 01 0a 0708090a0b0c0d0e",
		},
		Events: []string{"{pap}"}},
	{Note: "<< IPV6CP Conf-Req id=1 [IID = ours] >> Conf-Nak [IID suggested]",
		In:  "ff038057 01 01 000e | 01 0a 0708090a0b0c0d0e",
		Out: []string{"ff038057 03 01 000e | 01 0a 0f10111213141516"}},
	{Note: "<< IPV6CP Conf-Ack id=5",
		In: "ff038057 02 05 000e | 01 0a 0708090a0b0c0d0e"},
	{Note: "<< IPV6CP Conf-Req id=2 [IID suggested, IPv6-Compression] >> Conf-Rej [compression]",
		In:  "ff038057 01 02 0012 | 01 0a 0f10111213141516 | 02 04 004f",
		Out: []string{"ff038057 04 02 0008 | 02 04 004f"}},
	{Note: "<< IPV6CP Conf-Req id=3 [IID suggested] >> Conf-Ack: IPv6CP opened, Up waits for IPCP",
		In:  "ff038057 01 03 000e | 01 0a 0f10111213141516",
		Out: []string{"ff038057 02 03 000e | 01 0a 0f10111213141516"}},
	{Note: "<< IPCP Conf-Rej [DNS2] >> Conf-Req [IP, DNS1]",
		In:  "ff038021 04 03 000a | 83 06 00000000",
		Out: []string{"ff038021 01 04 0010 | 03 06 00000000 | 81 06 00000000"}},
	{Note: "<< IPCP Conf-Req id=3 [IP=192.168.30.1] >> Conf-Ack",
		In:  "ff038021 01 03 000a | 03 06 c0a81e01",
		Out: []string{"ff038021 02 03 000a | 03 06 c0a81e01"}},
	{Note: "<< IPCP Conf-Nak [IP=192.168.30.10, DNS1=192.168.30.1] >> Conf-Req",
		In:  "ff038021 03 04 0010 | 03 06 c0a81e0a | 81 06 c0a81e01",
		Out: []string{"ff038021 01 05 0010 | 03 06 c0a81e0a | 81 06 c0a81e01"}},
	{Note: "<< IPCP Conf-Ack → Up with both link-local addresses",
		In:     "ff038021 02 05 0010 | 03 06 c0a81e0a | 81 06 c0a81e01",
		Events: []string{"{192.168.30.10 192.168.30.1 [192.168.30.1] 1500 1400 fe80::708:90a:b0c:d0e fe80::f10:1112:1314:1516 }"}},
	{Note: "<< IPv6 data frame: the data path's",
		In:      "ff030057 60000000",
		Dropped: []string{"ppp: IPv6 frame: the data path's, not a control frame"}},
	{Note: "<< IPV6CP Conf-Req id=3 again (our Ack was lost) >> Conf-Ack",
		In:  "ff038057 01 03 000e | 01 0a 0f10111213141516",
		Out: []string{"ff038057 02 03 000e | 01 0a 0f10111213141516"}},
}

func TestReplayIPv6CP(t *testing.T) {
	c := NewClient(ClientConfig{User: "alice", Password: "alice-pass", Auth: []AuthMethod{PAP}, Rand: &countRand{n: 0xfc}, IPv6: true})
	runReplay(t, c, ipv6Exchange)
}

func iidFrame(t testing.TB, code, id uint8, iid uint64) []byte {
	return frame(t, ProtoIPV6CP, code, id, []byte{ipv6cpOptIID, 10}, binary.BigEndian.AppendUint64(nil, iid))
}

// networkClient returns an IPv6 client in the network phase (after PAP)
// and its IPv6CP Configure-Request.
func networkClient(t *testing.T) (*Client, []byte) {
	t.Helper()
	c := NewClient(ClientConfig{User: "alice", Password: "alice-pass", Auth: []AuthMethod{PAP}, Rand: &countRand{n: 0xfc}, IPv6: true})
	c.Start(t0)
	c.Handle(t0, unhex(t, "ff03c021 02 01 000e 01040578 0506fcfdfeff"))
	c.Handle(t0, unhex(t, "ff03c021 01 00 0008 0304c023"))
	var req []byte
	for _, a := range c.Handle(t0, unhex(t, "ff03c023 02 06 0005 00")) {
		if s, ok := a.(Send); ok && s.Data[3] == 0x57 {
			req = s.Data
		}
	}
	if c.phase != phaseNetwork || req == nil {
		t.Fatalf("client not in the network phase with an IPv6CP request (phase %v)", c.phase)
	}
	return c, req
}

// TestIPv6CPPeerIdentifier: what the client answers to the identifier in
// the server's Configure-Request. Ref: RFC 5072 §4.1.
func TestIPv6CPPeerIdentifier(t *testing.T) {
	const ours = 0x0708090a0b0c0d0e
	for _, tc := range []struct {
		name string
		req  []byte
		want string // the answer (hex of the whole frame)
	}{
		{"distinct: Ack", iidFrame(t, codeConfReq, 9, 0x1122334455667788), "ff038057 02 09 000e 010a1122334455667788"},
		{"zero asks for one: Nak with a non-zero suggestion", iidFrame(t, codeConfReq, 9, 0), "ff038057 03 09 000e 010a0f10111213141516"},
		{"ours: collision, Nak with another", iidFrame(t, codeConfReq, 9, ours), "ff038057 03 09 000e 010a0f10111213141516"},
		{"no option: Ack (peer address unknown)", frame(t, ProtoIPV6CP, codeConfReq, 9), "ff038057 02 09 0004"},
		{"short identifier: Reject", frame(t, ProtoIPV6CP, codeConfReq, 9, []byte{1, 6, 1, 2, 3, 4}), "ff038057 04 09 000a 0106 01020304"},
		{"compression: Reject", frame(t, ProtoIPV6CP, codeConfReq, 9, []byte{2, 4, 0, 0x4f}), "ff038057 04 09 0008 0204004f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := networkClient(t)
			got := sends(c.Handle(t0, tc.req))
			if len(got) != 1 || got[0] != stripSpaces(tc.want) {
				t.Errorf("answer %q, want %q", got, stripSpaces(tc.want))
			}
		})
	}
}

// TestIPv6CPOurIdentifier: how the client changes its own identifier on
// the server's Nak or Reject.
func TestIPv6CPOurIdentifier(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peer  uint64 // the server's identifier, Acked first (0: none)
		nak   []byte // options of the server's answer to our request
		code  uint8
		want  string // options of our next request (hex)
		local uint64
	}{
		{"Nak with a suggestion: taken", 0, []byte{1, 10, 0, 0, 0, 0, 0, 0, 0, 0x2a}, codeConfNak, "010a000000000000002a", 0x2a},
		{"Nak with zero: a new random one", 0, []byte{1, 10, 0, 0, 0, 0, 0, 0, 0, 0}, codeConfNak, "010a0f10111213141516", 0x0f10111213141516},
		{"Nak with the server's own: a new random one", 0x55, []byte{1, 10, 0, 0, 0, 0, 0, 0, 0, 0x55}, codeConfNak, "010a0f10111213141516", 0x0f10111213141516},
		{"Reject: no option, identifier kept", 0, []byte{1, 10, 7, 8, 9, 10, 11, 12, 13, 14}, codeConfRej, "", 0x0708090a0b0c0d0e},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, req := networkClient(t)
			if tc.peer != 0 {
				c.Handle(t0, iidFrame(t, codeConfReq, 1, tc.peer))
			}
			got := sends(c.Handle(t0, frame(t, ProtoIPV6CP, tc.code, req[5], tc.nak)))
			if len(got) != 1 || !strings.HasPrefix(got[0], "ff0380570106") || got[0][16:] != tc.want {
				t.Errorf("next request %q, want options %q", got, tc.want)
			}
			if c.v6.local != tc.local {
				t.Errorf("identifier %#x, want %#x", c.v6.local, tc.local)
			}
		})
	}
}

// TestIPv6CPPairs runs client and server against each other: IPv6 up on
// both sides, or IPv4 only with the reason, never a failure.
func TestIPv6CPPairs(t *testing.T) {
	for _, tc := range []struct {
		name          string
		client, serv  bool
		passive       bool // the client waits for the server's IPv6CP
		servID        uint64
		dropIPv6CP    bool // the server never answers IPv6CP (frames lost)
		wantOff       string
		wantServerOff string
	}{
		{name: "both", client: true, serv: true},
		{name: "both, server proposes a colliding identifier", client: true, serv: true, servID: 0x0102030405060708},
		{name: "server Protocol-Rejects", client: true, wantOff: "the server Protocol-Rejected IPv6CP"},
		{name: "client off: it Protocol-Rejects", serv: true, wantServerOff: "the server Protocol-Rejected IPv6CP"},
		{name: "server silent", client: true, serv: true, dropIPv6CP: true, wantOff: "the server did not negotiate IPv6CP", wantServerOff: "the server did not negotiate IPv6CP"},
		{name: "neither"},
		{name: "passive client, server starts IPv6CP", client: true, passive: true, serv: true},
		{name: "passive client, server without IPv6: nothing sent", client: true, passive: true, wantOff: "the server did not start IPv6CP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := clientCfg(MSCHAPv2)
			cc.IPv6, cc.IPv6Passive = tc.client, tc.passive
			sc := softEtherServer()
			sc.IPv6, sc.InterfaceID = tc.serv, tc.servID
			p := newPair(t, cc, sc)
			if tc.dropIPv6CP {
				p.drop = func(_ bool, _ int, f []byte) bool { return f[2] == 0x80 && f[3] == 0x57 }
			}
			p.take(true, p.c.Start(p.now))
			p.run(time.Minute, p.bothUp)
			if !p.bothUp() {
				t.Fatalf("not up: client down=%v server down=%v\n%s", p.cDown, p.sDown, p.dump())
			}
			c, s := *p.cUp, *p.sUp
			if tc.passive && !tc.serv && strings.Contains(p.dump(), "IPV6CP") {
				t.Errorf("a passive client sent IPv6CP to a server that did not start it:\n%s", p.dump())
			}
			if c.Local != netip.MustParseAddr("192.168.30.10") {
				t.Errorf("client IPv4 %v", c.Local)
			}
			if c.IPv6Off != tc.wantOff || s.IPv6Off != tc.wantServerOff {
				t.Errorf("IPv6Off client %q server %q, want %q, %q\n%s", c.IPv6Off, s.IPv6Off, tc.wantOff, tc.wantServerOff, p.dump())
			}
			v6 := tc.client && tc.serv && !tc.dropIPv6CP
			if !v6 {
				if c.Local6.IsValid() || s.Local6.IsValid() {
					t.Errorf("IPv6 addresses without IPv6CP: %v %v", c.Local6, s.Local6)
				}
				return
			}
			if !c.Local6.IsLinkLocalUnicast() || !c.Peer6.IsLinkLocalUnicast() || c.Local6 == c.Peer6 {
				t.Errorf("client link-local %v peer %v", c.Local6, c.Peer6)
			}
			if s.Local6 != c.Peer6 || s.Peer6 != c.Local6 {
				t.Errorf("server sees %v/%v, client %v/%v", s.Local6, s.Peer6, c.Local6, c.Peer6)
			}
		})
	}
}

// TestIPv6CPLateServer: a server whose first IPv6CP packet comes after IPCP
// opened gets a Protocol-Reject, as with IPv6 off; the link stays up.
func TestIPv6CPLateServer(t *testing.T) {
	cc := clientCfg(MSCHAPv2)
	cc.IPv6 = true
	p := newPair(t, cc, softEtherServer()) // no IPv6: it Protocol-Rejects
	p.drop = func(toServer bool, _ int, f []byte) bool { return toServer && f[2] == 0x80 && f[3] == 0x57 }
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, p.bothUp)
	if p.cUp == nil || p.cUp.IPv6Off != "the server did not negotiate IPv6CP" {
		t.Fatalf("client Up %+v\n%s", p.cUp, p.dump())
	}
	acts := p.c.Handle(p.now, iidFrame(t, codeConfReq, 1, 0x42))
	if got := sends(acts); len(got) != 1 || !strings.HasPrefix(got[0], "ff03c02108") || !strings.Contains(got[0], "8057010100") {
		t.Errorf("late IPv6CP request answered %q, want a Protocol-Reject", got)
	}
	for _, a := range acts {
		if _, ok := a.(Down); ok {
			t.Errorf("late IPv6CP ended the link")
		}
	}
}

// TestIPv6CPClosedAfterUp: a server that closes IPv6CP after both were up
// leaves the link up; the client reports IPv6Down once and from then on
// Protocol-Rejects IPv6CP.
func TestIPv6CPClosedAfterUp(t *testing.T) {
	cc := clientCfg(MSCHAPv2)
	cc.IPv6 = true
	sc := softEtherServer()
	sc.IPv6 = true
	p := newPair(t, cc, sc)
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, p.bothUp)
	if p.cUp == nil || !p.cUp.Local6.IsValid() {
		t.Fatalf("IPv6 not up: %+v\n%s", p.cUp, p.dump())
	}
	acts := p.c.Handle(p.now, frame(t, ProtoIPV6CP, codeTermReq, 77, []byte("ipv6 disabled")))
	var downs []IPv6Down
	for _, a := range acts {
		switch a := a.(type) {
		case IPv6Down:
			downs = append(downs, a)
		case Down:
			t.Fatalf("the link went down: %v", a.Err)
		}
	}
	if len(downs) != 1 || downs[0].Reason != "the server closed IPv6CP: ipv6 disabled" {
		t.Errorf("IPv6Down actions %+v", downs)
	}
	if got := sends(acts); len(got) != 1 || got[0] != "ff038057064d0004" {
		t.Errorf("answer %q, want a Terminate-Ack", got)
	}
	if got := sends(p.c.Handle(p.now, iidFrame(t, codeConfReq, 9, 0x42))); len(got) != 1 || !strings.HasPrefix(got[0], "ff03c02108") {
		t.Errorf("IPv6CP after IPv6Down answered %q, want a Protocol-Reject", got)
	}
}
