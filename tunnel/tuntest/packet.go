package tuntest

import (
	"net/netip"

	"github.com/l2tpctl/l2tpctl/proto/inet"
)

// ICMP echo types. Ref: RFC 792.
const (
	ICMPEchoReply   = inet.ICMPEchoReply
	ICMPEchoRequest = inet.ICMPEchoRequest
)

// Ping builds an IPv4 packet carrying an ICMP echo request with valid
// checksums, TTL 64 and Don't Fragment; its IPv4 identification is seq. It
// returns nil for a non-IPv4 address or a packet over 65535 bytes.
func Ping(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	e := inet.ICMPEcho{Src: src, Dst: dst, Type: inet.ICMPEchoRequest, ID: id, Seq: seq, IPID: seq, Payload: payload}
	pkt, err := e.AppendBinary(nil)
	if err != nil {
		return nil
	}
	return pkt
}

// ParseICMPEcho parses an IPv4 ICMP echo request or reply, verifying both
// checksums (inet.ParseICMPEcho).
func ParseICMPEcho(pkt []byte) (inet.ICMPEcho, bool) { return inet.ParseICMPEcho(pkt) }

// Pong returns the echo reply to an echo request, as the pinged host would
// send it, or false if pkt is not an echo request.
func Pong(pkt []byte) ([]byte, bool) {
	e, ok := inet.ParseICMPEcho(pkt)
	if !ok || e.Type != inet.ICMPEchoRequest {
		return nil, false
	}
	return e.Reply(), true
}
