package peertest

import (
	"net/netip"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
)

// DataHooks connect the server to a data path outside it (Profile.Data):
// the benchmark peer runs tunnel.ServerPath, the client's own data path
// turned round, on the NAT-T socket and a TUN device, and keeps this
// server for the control plane (IKE, L2TP control, PPP). The server then
// reads only its IKE socket; everything that arrives on the NAT-T socket
// is the data path's, which hands IKE, L2TP control messages and PPP
// control frames back through Inject. The server still sends its own
// control messages on the NAT-T socket, sealed with the same SAs (an
// esp.SA is safe for concurrent use, and sharing it keeps one sequence
// number space per SA).
//
// Every hook is called from the server's loop, in the order the events
// happen, and must not block for long; a nil hook is not called.
type DataHooks struct {
	// Client: a session for a new client address starts (its Main Mode
	// message 1 came to the IKE socket); any earlier session has ended
	// (End was called). Called before the server answers, so a data path
	// started here reads the NAT-T socket before the client sends to it.
	Client func(client netip.AddrPort)
	// SAInbound: the inbound half of a pair the client's Quick Mode is
	// making, as the server sends message 2: the client may send on it
	// right after message 3, before this loop has taken that message.
	// SAUp follows with the same in.
	SAInbound func(in *esp.SA)
	// SAUp: an IPsec SA pair is installed (first, or a re-key): in opens
	// what the client sends, out seals what the server sends, from now on.
	SAUp func(in, out *esp.SA)
	// SAGone: the pair whose inbound SPI is inSPI was removed; out is its
	// outbound SA if it was the newest pair (nothing is sent until the
	// next SAUp), else nil.
	SAGone func(inSPI uint32, out *esp.SA)
	// Session: the L2TP call is up with these IDs (the client's tunnel and
	// session IDs, which the server writes, and the server's, which the
	// client writes), or it closed (all zero).
	Session func(clientTunnel, clientSession, serverTunnel, serverSession uint16)
	// End: the session is over (its last IKE SA went, a hang-up, or a new
	// client's Main Mode replaces it).
	End func()
}

// Inner says what an injected message is.
type Inner int

const (
	innerNone Inner = iota
	// InnerIKE is an ISAKMP message that came to the NAT-T port (the
	// non-ESP marker already stripped).
	InnerIKE
	// InnerL2TP is a whole L2TP message (header included) that came out
	// of ESP: a control message, or a data message the data path had no
	// call for (yet).
	InnerL2TP
	// InnerPPP is a whole PPP frame of the session's call that came out of
	// ESP and L2TP (LCP, authentication, IPCP, …).
	InnerPPP
)

// Inject hands the server a message that the outside data path
// (Profile.Data) read from client on the NAT-T socket. It does not block:
// when the server's queue is full the message is dropped and counted
// (Stats.InjectDrops), as a full socket buffer would drop it, and Inject
// returns false. The server keeps data.
func (s *Server) Inject(kind Inner, data []byte, client netip.AddrPort) bool {
	d := datagram{data: data, from: unmap(client), natt: true}
	switch kind {
	case InnerIKE:
		// handle strips the marker of a NAT-T datagram: put one back.
		d.data = append(make([]byte, inet.NonESPMarkerLen, inet.NonESPMarkerLen+len(data)), data...)
	case InnerL2TP, InnerPPP:
		d.inner = kind
	default:
		return false
	}
	d.done = s.busy("the server's loop, with a message injected from " + d.from.String())
	select {
	case s.in <- d:
		return true
	default:
		d.done()
		s.count(func(st *Stats) { st.InjectDrops++ })
		return false
	}
}

// endSession forgets the current session, if any, and tells the data
// hooks.
func (s *Server) endSession() {
	if s.sess == nil {
		return
	}
	s.sess = nil
	if s.p.Data != nil && s.p.Data.End != nil {
		s.p.Data.End()
	}
}
