package ppp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDroppedReasons checks the reason of a few ignored frames, on a client
// brought to a stage by clientAtStage (0 started, 1 MS-CHAPv2 waiting, 2
// PAP waiting, 3 IPCP negotiating, 4 Up, 5 closing).
func TestDroppedReasons(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage uint8
		frame func(c *Client) []byte
		want  string
		sends int // frames sent all the same
	}{
		{"malformed frame", 0, func(*Client) []byte { return []byte{0xff, 0x03, 0xc0} }, "ppp: malformed frame of 3 bytes", 0},
		{"LCP Ack with wrong identifier", 0, func(c *Client) []byte {
			return frame(t, ProtoLCP, codeConfAck, c.lcp.id+1, c.lcp.req)
		}, "ppp: LCP Configure-Ack with wrong identifier %d (ours is %d)", 0},
		{"LCP Ack with other options", 0, func(c *Client) []byte {
			return frame(t, ProtoLCP, codeConfAck, c.lcp.id, []byte{1, 4, 5, 0xdc})
		}, "ppp: LCP Configure-Ack with other options than we requested", 0},
		{"IPCP before LCP is open", 0, func(*Client) []byte { return frame(t, ProtoIPCP, codeConfReq, 1) },
			"ppp: IPCP packet before LCP is open", 0},
		{"IPCP before authentication", 1, func(*Client) []byte { return frame(t, ProtoIPCP, codeConfReq, 1) },
			"ppp: IPCP packet before authentication completed", 0},
		{"CHAP Success before our Response", 1, func(*Client) []byte { return frame(t, ProtoCHAP, chapCodeSucc, 1, []byte("S=00")) },
			"ppp: CHAP Success before our Response", 0},
		{"PAP Ack with wrong identifier", 2, func(c *Client) []byte { return frame(t, ProtoPAP, papCodeAck, c.authID+1, []byte{0}) },
			"ppp: PAP Authenticate-Ack with wrong identifier %d (ours is %d)", 0},
		{"CHAP while authenticating with PAP", 2, func(*Client) []byte { return frame(t, ProtoCHAP, chapCodeChal, 1, make([]byte, 17)) },
			"ppp: CHAP Challenge, but we authenticate with pap", 0},
		{"late PAP Ack", 3, func(c *Client) []byte { return frame(t, ProtoPAP, papCodeAck, c.authID, []byte{0}) },
			"ppp: PAP Authenticate-Ack after authentication", 0},
		{"Code-Reject of Echo-Request", 4, func(*Client) []byte { return frame(t, ProtoLCP, codeCodeRej, 1, []byte{9, 1, 0, 4}) },
			"ppp: LCP Code-Reject of Echo-Request tolerated", 0},
		{"unknown LCP code", 4, func(*Client) []byte { return frame(t, ProtoLCP, 0x20, 1) },
			"ppp: LCP code 32 unknown, Code-Reject sent", 1},
		{"duplicate IPCP Ack", 4, func(c *Client) []byte { return frame(t, ProtoIPCP, codeConfAck, c.ipcp.id, c.ipcp.req) },
			"ppp: IPCP Configure-Ack in state Opened (a duplicate)", 0},
		{"Configure-Request while closing", 5, func(*Client) []byte { return frame(t, ProtoLCP, codeConfReq, 9) },
			"ppp: LCP Configure-Request in state Closing", 0},
		{"unknown protocol while closing", 5, func(*Client) []byte { return frame(t, ProtoIPV6CP, codeConfReq, 9) },
			"ppp: IPV6CP packet while the link terminates", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, now := clientAtStage(t, tc.stage)
			want := tc.want
			if strings.Contains(want, "%d") {
				id := c.lcp.id
				if tc.stage == 2 {
					id = c.authID
				}
				want = fmt.Sprintf(want, id+1, id)
			}
			acts := c.Handle(now, tc.frame(c))
			var got []string
			for _, a := range acts {
				if d, ok := a.(Dropped); ok {
					got = append(got, d.Reason)
				}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("dropped %q, want %q", got, want)
			}
			if n := len(sends(acts)); n != tc.sends || downOf(acts) != nil {
				t.Errorf("acts %v", acts)
			}
		})
	}
}

func TestDroppedBeforeStartAndAfterDown(t *testing.T) {
	c := NewClient(clientCfg())
	f := frame(t, ProtoLCP, codeEchoReq, 1, make([]byte, 4))
	if acts := c.Handle(t0, f); len(acts) != 1 || acts[0] != (Dropped{Reason: "ppp: frame before Start"}) {
		t.Errorf("before Start: %v", acts)
	}
	c.Start(t0)
	c.Close(t0)
	for d := c.Deadline(); !d.IsZero(); d = c.Deadline() {
		c.Tick(d)
	}
	if acts := c.Handle(t0, f); len(acts) != 1 || acts[0] != (Dropped{Reason: "ppp: frame after the link went down"}) {
		t.Errorf("after Down: %v", acts)
	}
	// The server: a retransmitted request after authentication is answered
	// again; anything else is dropped.
	p := newPair(t, clientCfg(PAP), softEtherServer())
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, p.bothUp)
	if acts := p.s.Handle(p.now, frame(t, ProtoPAP, papCodeReq, p.s.okID, []byte{0, 0})); len(sends(acts)) != 1 {
		t.Errorf("retransmitted PAP request: %v", acts)
	}
	// A reason never carries the packet's contents, here a password.
	req, _ := papRequestData("alice", "alice-pass")
	acts := p.s.Handle(p.now, frame(t, ProtoPAP, papCodeReq, p.s.okID+1, req))
	if len(acts) != 1 || acts[0] != (Dropped{Reason: "ppp: PAP Authenticate-Request after authentication"}) {
		t.Errorf("new PAP request after authentication: %v", acts)
	}
}
