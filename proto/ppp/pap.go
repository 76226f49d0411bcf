package ppp

import "github.com/l2tpctl/l2tpctl/proto/internal/wire"

// PAP Authenticate-Request data (after Code, Identifier, Length):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Peer-ID Length|  Peer-Id ...  | Passwd-Length |  Password ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Authenticate-Ack/Nak data:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Msg-Length   |  Message ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Ref: RFC 1334 §2.2.1, §2.2.2.

// papRequestData encodes Peer-Id and Password; ok is false when one is
// longer than 255 bytes.
func papRequestData(user, password string) ([]byte, bool) {
	if len(user) > 255 || len(password) > 255 {
		return nil, false
	}
	b := make([]byte, 0, 2+len(user)+len(password))
	b = append(b, byte(len(user)))
	b = append(b, user...)
	b = append(b, byte(len(password)))
	return append(b, password...), true
}

func parsePAPRequest(d []byte) (user, password []byte, ok bool) {
	n, rest, ok := wire.Uint8(d)
	if !ok {
		return nil, nil, false
	}
	user, rest, ok = wire.Bytes(rest, int(n))
	if !ok {
		return nil, nil, false
	}
	n, rest, ok = wire.Uint8(rest)
	if !ok {
		return nil, nil, false
	}
	password, _, ok = wire.Bytes(rest, int(n))
	return user, password, ok
}

func papMessageData(msg string) []byte {
	if len(msg) > 255 {
		msg = msg[:255]
	}
	return append([]byte{byte(len(msg))}, msg...)
}

// parsePAPMessage returns the Ack/Nak message, leniently: a Msg-Length
// beyond the data takes what is there.
func parsePAPMessage(d []byte) string {
	n, rest, ok := wire.Uint8(d)
	if !ok {
		return ""
	}
	if int(n) < len(rest) {
		rest = rest[:n]
	}
	return string(trimNUL(rest))
}
