package ppp

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// A replay is a scripted exchange: frames from the server (hex) and the
// exact frames and events the client must produce. To add frames captured
// from a real server, append steps: In is the captured frame, Out what our
// client must answer (hex), Events the other actions (fmt %v form) but
// Dropped, whose reasons are in Dropped.
type replayStep struct {
	Note    string
	In      string   // server → client frame (hex; spaces and '|' ignored); "" = Start
	Out     []string // client → server frames
	Events  []string // fmt.Sprint of each action but Send and Dropped, in order
	Dropped []string // the reason of each Dropped, in order
}

func runReplay(t *testing.T, c *Client, steps []replayStep) {
	t.Helper()
	for i, st := range steps {
		var acts []Action
		if st.In == "" {
			acts = c.Start(t0)
		} else {
			acts = c.Handle(t0, unhex(t, st.In))
		}
		var out, ev, dropped []string
		for _, a := range acts {
			switch a := a.(type) {
			case Send:
				out = append(out, fmt.Sprintf("%x", a.Data))
			case Dropped:
				dropped = append(dropped, a.Reason)
			default:
				ev = append(ev, fmt.Sprint(a))
			}
		}
		var want []string
		for _, o := range st.Out {
			want = append(want, strings.ToLower(stripSpaces(o)))
		}
		if strings.Join(out, ",") != strings.Join(want, ",") {
			t.Errorf("step %d (%s): sent\n  %s\nwant\n  %s", i, st.Note, strings.Join(out, "\n  "), strings.Join(want, "\n  "))
		}
		if strings.Join(ev, ",") != strings.Join(st.Events, ",") {
			t.Errorf("step %d (%s): events %q, want %q", i, st.Note, ev, st.Events)
		}
		if strings.Join(dropped, ",") != strings.Join(st.Dropped, ",") {
			t.Errorf("step %d (%s): dropped %q, want %q", i, st.Note, dropped, st.Dropped)
		}
	}
}

// The "Observed exchange (probe full, PAP)" from the SoftEther README,
// server frames written by hand from RFC 1661/1332/1334/1877.
// Rand: the magic takes fc fd fe ff; LCP ids start after 00 (first id 1),
// IPCP after 02 (first id 3), PAP id 04.
var softEtherPAPExchange = []replayStep{
	{Note: ">> LCP Conf-Req id=1 [MRU=1400, Magic]",
		Out: []string{"ff03c021 01 01 000e | 01 04 0578 | 05 06 fcfdfeff"}},
	{Note: "<< LCP Conf-Rej id=1 [Magic] >> Conf-Req id=2 [MRU=1400]",
		In:  "ff03c021 04 01 000a | 05 06 fcfdfeff",
		Out: []string{"ff03c021 01 02 0008 | 01 04 0578"}},
	{Note: "<< LCP Conf-Req id=0 [Auth=EAP] >> Conf-Nak [Auth=PAP]",
		In:  "ff03c021 01 00 0008 | 03 04 c227",
		Out: []string{"ff03c021 03 00 0008 | 03 04 c023"}},
	{Note: "<< LCP Conf-Ack id=2 [MRU=1400]",
		In: "ff03c021 02 02 0008 | 01 04 0578"},
	{Note: "<< LCP Conf-Req id=1 [Auth=CHAP alg 81] >> Conf-Nak [Auth=PAP]",
		In:  "ff03c021 01 01 0009 | 03 05 c223 81",
		Out: []string{"ff03c021 03 01 0008 | 03 04 c023"}},
	{Note: "<< LCP Conf-Req id=2 [Auth=PAP] >> Conf-Ack, PAP Auth-Req",
		In: "ff03c021 01 02 0008 | 03 04 c023",
		Out: []string{
			"ff03c021 02 02 0008 | 03 04 c023",
			"ff03c023 01 04 0015 | 05 616c696365 | 0a 616c6963652d70617373",
		},
		Events: []string{"{1500}"}},
	{Note: "<< PAP Auth-Ack >> IPCP Conf-Req [IP, DNS1, DNS2]",
		In:     "ff03c023 02 04 0005 00",
		Out:    []string{"ff038021 01 03 0016 | 03 06 00000000 | 81 06 00000000 | 83 06 00000000"},
		Events: []string{"{pap}"}},
	{Note: "<< IPCP Conf-Rej [DNS2] >> Conf-Req [IP, DNS1]",
		In:  "ff038021 04 03 000a | 83 06 00000000",
		Out: []string{"ff038021 01 04 0010 | 03 06 00000000 | 81 06 00000000"}},
	{Note: "<< IPCP Conf-Req id=3 [IP=192.168.30.1] >> Conf-Ack",
		In:  "ff038021 01 03 000a | 03 06 c0a81e01",
		Out: []string{"ff038021 02 03 000a | 03 06 c0a81e01"}},
	{Note: "<< IPCP Conf-Nak [IP=192.168.30.10, DNS1=192.168.30.1] >> Conf-Req",
		In:  "ff038021 03 04 0010 | 03 06 c0a81e0a | 81 06 c0a81e01",
		Out: []string{"ff038021 01 05 0010 | 03 06 c0a81e0a | 81 06 c0a81e01"}},
	{Note: "<< IPCP Conf-Ack → Up",
		In:     "ff038021 02 05 0010 | 03 06 c0a81e0a | 81 06 c0a81e01",
		Events: []string{"{192.168.30.10 192.168.30.1 [192.168.30.1] 1500 1400 invalid IP invalid IP }"}},
	{Note: `<< LCP Echo-Req id=0 magic 0 "Aho Baka Manuke\0" >> Echo-Rep magic 0`,
		In:  "ff03c021 09 00 0018 | 00000000 | 41686f2042616b61204d616e756b6500",
		Out: []string{"ff03c021 0a 00 0018 | 00000000 | 41686f2042616b61204d616e756b6500"}},
	{Note: "<< IPv4 data frame: ignored", In: "ff030021 4500001c",
		Dropped: []string{"ppp: IPv4 frame: the data path's, not a control frame"}},
	{Note: "<< IPV6CP Conf-Req >> Protocol-Reject (id from xid 01 → 02)",
		In:      "ff038057 01 01 000e | 01 0a 0011223344556677",
		Out:     []string{"ff03c021 08 02 0014 | 8057 | 01 01 000e 010a0011223344556677"},
		Dropped: []string{"ppp: IPV6CP packet: protocol not supported, Protocol-Reject sent"}},
	{Note: "<< LCP Terminate-Request >> Terminate-Ack, Down",
		In:     "ff03c021 05 07 0004",
		Out:    []string{"ff03c021 06 07 0004"},
		Events: []string{"{ppp: peer terminated the link during network}"}},
}

func TestReplaySoftEtherPAP(t *testing.T) {
	c := NewClient(ClientConfig{User: "alice", Password: "alice-pass", Auth: []AuthMethod{PAP}, Rand: &countRand{n: 0xfc}})
	runReplay(t, c, softEtherPAPExchange)
}

// MS-CHAPv2 with the RFC 2759 §9.2 values: the Response carries the RFC
// peer challenge and NT-Response; the Success carries the RFC
// authenticator response.
func TestReplayMSCHAPv2(t *testing.T) {
	rnd := unhex(t, "01020304 00 00 00 00"+rfcPeerChal)
	steps := []replayStep{
		{Note: "Start", Out: []string{"ff03c021 01 01 000e 0104 0578 0506 01020304"}},
		{Note: "<< Conf-Req [Auth=MS-CHAPv2, MRU 1280, Magic] >> Ack",
			In:  "ff03c021 01 07 0013 0305c22381 01040500 050611223344",
			Out: []string{"ff03c021 02 07 0013 0305c22381 01040500 050611223344"}},
		{Note: "<< Conf-Ack", In: "ff03c021 02 01 000e 0104 0578 0506 01020304", Events: []string{"{1280}"}},
		{Note: "<< Challenge >> Response",
			In:  "ff03c223 01 2a 0019 10 " + rfcAuthChal + " 6c327470 64",
			Out: []string{"ff03c223 02 2a 003a 31 " + rfcPeerChal + " 0000000000000000 " + rfcNTResp + " 00 55736572"}},
		{Note: "<< Challenge retransmitted >> same Response",
			In:  "ff03c223 01 2a 0019 10 " + rfcAuthChal + " 6c327470 64",
			Out: []string{"ff03c223 02 2a 003a 31 " + rfcPeerChal + " 0000000000000000 " + rfcNTResp + " 00 55736572"}},
		{Note: "<< Success (Windows style, no space) >> IPCP",
			In:     fmt.Sprintf("ff03c223 03 2a %04x %x", 4+len(rfcAuthResp)+len("M=OK"), rfcAuthResp+"M=OK"),
			Out:    []string{"ff038021 01 01 0016 0306 00000000 8106 00000000 8306 00000000"},
			Events: []string{"{mschapv2}"}},
	}
	c := NewClient(ClientConfig{User: "User", Password: "clientPass", Auth: []AuthMethod{MSCHAPv2}, Rand: bytes.NewReader(rnd)})
	runReplay(t, c, steps)

	// Failure E=691.
	fail := "E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=bad"
	steps = append(steps[:4:4], replayStep{Note: "<< Failure >> Terminate-Request, Down",
		In:     fmt.Sprintf("ff03c223 04 2a %04x %x", 4+len(fail), fail),
		Out:    []string{"ff03c021 05 02 0004"},
		Events: []string{"{ppp: authentication rejected for user User (mschapv2): error 691, authentication failure (wrong user name or password): " + fail + "}"}})
	c = NewClient(ClientConfig{User: "User", Password: "clientPass", Auth: []AuthMethod{MSCHAPv2}, Rand: bytes.NewReader(rnd)})
	runReplay(t, c, steps)
}

// EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2 §2) with the RFC 2759
// §9.2 values inside: Identity, Challenge → Response with the RFC
// NT-Response, Success Request with the RFC authenticator response →
// Success Response (the OpCode alone), EAP Success → IPCP.
func TestReplayEAPMSCHAPv2(t *testing.T) {
	rnd := unhex(t, "01020304 00 00 00 00"+rfcPeerChal)
	success := rfcAuthResp + " M=OK"
	steps := []replayStep{
		{Note: "Start", Out: []string{"ff03c021 01 01 000e 0104 0578 0506 01020304"}},
		{Note: "<< Conf-Req [Auth=EAP, MRU 1280, Magic] >> Ack",
			In:  "ff03c021 01 07 0012 0304c227 01040500 050611223344",
			Out: []string{"ff03c021 02 07 0012 0304c227 01040500 050611223344"}},
		{Note: "<< Conf-Ack", In: "ff03c021 02 01 000e 0104 0578 0506 01020304", Events: []string{"{1280}"}},
		{Note: "<< Identity >> Identity User",
			In:  "ff03c227 01 01 0005 01",
			Out: []string{"ff03c227 02 01 0009 01 55736572"}},
		{Note: "<< EAP-MSCHAPv2 Challenge >> Response",
			In:  "ff03c227 01 02 001f 1a 01 2a 001a 10 " + rfcAuthChal + " 6c32747064",
			Out: []string{"ff03c227 02 02 003f 1a 02 2a 003a 31 " + rfcPeerChal + " 0000000000000000 " + rfcNTResp + " 00 55736572"}},
		{Note: "<< Challenge retransmitted >> same Response",
			In:  "ff03c227 01 02 001f 1a 01 2a 001a 10 " + rfcAuthChal + " 6c32747064",
			Out: []string{"ff03c227 02 02 003f 1a 02 2a 003a 31 " + rfcPeerChal + " 0000000000000000 " + rfcNTResp + " 00 55736572"}},
		{Note: "<< EAP-MSCHAPv2 Success >> Success Response",
			In:  fmt.Sprintf("ff03c227 01 03 %04x 1a 03 2a %04x %x", 5+4+len(success), 4+len(success), success),
			Out: []string{"ff03c227 02 03 0006 1a 03"}},
		{Note: "<< EAP Success >> IPCP",
			In:     "ff03c227 03 03 0004",
			Out:    []string{"ff038021 01 01 0016 0306 00000000 8106 00000000 8306 00000000"},
			Events: []string{"{eap}"}},
	}
	c := NewClient(ClientConfig{User: "User", Password: "clientPass", Auth: []AuthMethod{EAP}, Rand: bytes.NewReader(rnd)})
	runReplay(t, c, steps)
}

func TestGoldenServerRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ServerConfig
		want string
	}{
		// SoftEther: only Auth-Protocol. countRand 0x80: LCP id 0x80 → first 0x81.
		{"softether", softEtherServer(), "ff03c021 01 81 0008 0304c227"},
		// pppd: MRU 1280, CHAP-MD5, Magic 40414243; id 0x44 → 0x45.
		{"pppd", pppdServer(), "ff03c021 01 45 0013 01040500 0305c22305 050640414243"},
	} {
		acts := NewServer(tc.cfg).Start(t0)
		if len(acts) != 1 || fmt.Sprintf("%x", acts[0].(Send).Data) != stripSpaces(tc.want) {
			t.Errorf("%s: %v, want %s", tc.name, acts, tc.want)
		}
	}
}

func TestClientNakSuggestion(t *testing.T) {
	for _, tc := range []struct {
		auth []AuthMethod
		in   string
		want string
	}{
		{nil, "ff03c021 01 00 0008 0304c227", "ff03c021 03 00 0009 0305c22381"},               // EAP → suggest MS-CHAPv2
		{nil, "ff03c021 01 00 0009 0305c22305", "ff03c021 03 00 0009 0305c22381"},             // CHAP-MD5 → Nak
		{[]AuthMethod{PAP}, "ff03c021 01 00 0009 0305c22381", "ff03c021 03 00 0008 0304c023"}, // MS-CHAPv2 → PAP
		{nil, "ff03c021 01 00 0009 0305c22380", "ff03c021 03 00 0009 0305c22381"},             // MS-CHAPv1 unknown → Nak
		{nil, "ff03c021 01 00 0008 0304c023", "ff03c021 03 00 0009 0305c22381"},               // PAP acceptable, MS-CHAPv2 preferred
		{[]AuthMethod{PAP}, "ff03c021 01 00 0008 0304c023", "ff03c021 02 00 0008 0304c023"},   // PAP accepted
		{[]AuthMethod{CHAPMD5}, "ff03c021 01 00 0009 0305c22305", "ff03c021 02 00 0009 0305c22305"},
		{[]AuthMethod{EAP, PAP}, "ff03c021 01 00 0008 0304c227", "ff03c021 02 00 0008 0304c227"},
		{[]AuthMethod{EAP, PAP}, "ff03c021 01 00 0008 0304c023", "ff03c021 03 00 0008 0304c227"},
		{[]AuthMethod{MSCHAPv2}, "ff03c021 01 00 0009 0305c22381", "ff03c021 02 00 0009 0305c22381"},
		// MRU below the IPv4 minimum: Nak'd with 68; 68 and a large one Acked.
		{nil, "ff03c021 01 00 0008 0104003c", "ff03c021 03 00 0008 01040044"},
		{nil, "ff03c021 01 00 0008 01040044", "ff03c021 02 00 0008 01040044"},
		{nil, "ff03c021 01 00 0008 01042000", "ff03c021 02 00 0008 01042000"},
		{nil, "ff03c021 01 00 0009 0105000000", "ff03c021 04 00 0009 0105000000"}, // bad length
		// Unknown option 99 rejected; PFC, ACFC and ACCM acked.
		{nil, "ff03c021 01 00 0012 0206ffffffff 0702 0802 6304aaaa", "ff03c021 04 00 0008 6304aaaa"},
		{nil, "ff03c021 01 00 000e 0206ffffffff 0702 0802", "ff03c021 02 00 000e 0206ffffffff 0702 0802"},
		{nil, "ff03c021 01 00 0007 070301", "ff03c021 04 00 0007 070301"}, // PFC with data: malformed
		{nil, "ff03c021 01 00 000a 0206ffffffff", "ff03c021 02 00 000a 0206ffffffff"},
		// Magic 0 is Nak'd with a fresh number (countRand continues at 09).
		{nil, "ff03c021 01 00 000a 050600000000", "ff03c021 03 00 000a 0506090a0b0c"},
		// Malformed option list: discarded (reported as Dropped).
		{nil, "ff03c021 01 00 0007 0305c2", ""},
	} {
		c := NewClient(ClientConfig{User: "u", Password: "p", Auth: tc.auth, Rand: &countRand{n: 1}})
		c.Start(t0)
		acts := c.Handle(t0, unhex(t, tc.in))
		got := ""
		if s := sends(acts); len(s) > 0 {
			got = s[0]
		}
		if got != stripSpaces(tc.want) {
			t.Errorf("%v %s: got %s, want %s", tc.auth, tc.in, got, tc.want)
		}
		if d, ok := acts[len(acts)-1].(Dropped); (tc.want == "") != ok || ok && d.Reason != "ppp: LCP Configure-Request with a malformed option list" {
			t.Errorf("%v %s: %v", tc.auth, tc.in, acts)
		}
	}
}

func TestClientMaxFailure(t *testing.T) {
	// After Max-Failure Naks the Nak becomes a Reject (RFC 1661 §4.6).
	c := NewClient(clientCfg(PAP))
	c.Start(t0)
	var last string
	for i := 0; i < defaultMaxFailure+1; i++ {
		acts := c.Handle(t0, frame(t, ProtoLCP, codeConfReq, uint8(i), unhex(t, "0304c227")))
		last = fmt.Sprintf("%x", acts[len(acts)-1].(Send).Data)
	}
	if last != "ff03c021040500080304c227" {
		t.Errorf("after Max-Failure: %s", last)
	}
}

func TestIPCPPolicy(t *testing.T) {
	c := NewClient(clientCfg())
	h := (*clientIPCP)(c)
	for _, tc := range []struct {
		o    Option
		code uint8
	}{
		{Option{ipcpOptAddr, []byte{10, 0, 0, 1}}, codeConfAck},
		{Option{ipcpOptComp, []byte{0x00, 0x2d, 0x0f, 0x01}}, codeConfRej},
		{Option{ipcpOptDNS1, []byte{0, 0, 0, 0}}, codeConfRej},
		{Option{ipcpOptAddr, []byte{10, 0, 0}}, codeConfRej},
	} {
		if code, _ := h.checkOption(tc.o); code != tc.code {
			t.Errorf("%v: %d, want %d", tc.o, code, tc.code)
		}
	}
	h.acked([]Option{{ipcpOptAddr, []byte{0, 0, 0, 0}}})
	if c.peer.IsValid() {
		t.Errorf("peer 0.0.0.0 must stay unspecified, got %v", c.peer)
	}
	h.acked([]Option{{ipcpOptAddr, []byte{10, 0, 0, 1}}})
	if c.peer != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("peer = %v", c.peer)
	}
}

func TestPAPCodec(t *testing.T) {
	d, ok := papRequestData("alice", "alice-pass")
	if !ok || fmt.Sprintf("%x", d) != "05616c6963650a616c6963652d70617373" {
		t.Fatalf("%x", d)
	}
	u, p, ok := parsePAPRequest(d)
	if !ok || string(u) != "alice" || string(p) != "alice-pass" {
		t.Fatal(u, p)
	}
	for _, bad := range []string{"", "05616c", "05616c696365", "05616c69636505"} {
		if _, _, ok := parsePAPRequest(unhex(t, bad)); ok {
			t.Errorf("parsed %s", bad)
		}
	}
	if _, ok := papRequestData(strings.Repeat("x", 256), ""); ok {
		t.Error("256-byte user accepted")
	}
	for in, want := range map[string]string{"": "", "00": "", "024f4b": "OK", "094f4b": "OK", "024f4b4f": "OK"} {
		if got := parsePAPMessage(unhex(t, in)); got != want {
			t.Errorf("parsePAPMessage(%s) = %q", in, got)
		}
	}
}

func TestCHAPCodec(t *testing.T) {
	d := chapValueData([]byte{1, 2, 3}, "srv")
	v, n, ok := parseCHAPValue(d)
	if !ok || !bytes.Equal(v, []byte{1, 2, 3}) || string(n) != "srv" {
		t.Fatal(v, n, ok)
	}
	if _, _, ok := parseCHAPValue([]byte{5, 1}); ok {
		t.Error("short value accepted")
	}
	// RFC 1994 MD5: MD5(id || secret || challenge); known answer from
	// md5("\x01" + "secret" + "challenge").
	got := chapMD5Response(1, "secret", []byte("challenge"))
	if fmt.Sprintf("%x", got) != md5hex("\x01secretchallenge") {
		t.Errorf("md5 = %x", got)
	}
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return fmt.Sprintf("%x", h)
}
