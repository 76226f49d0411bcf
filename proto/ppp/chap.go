package ppp

import (
	"crypto/md5"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// CHAP Challenge and Response data (after Code, Identifier, Length):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Value-Size   |  Value ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Name ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Success and Failure carry only a Message. Ref: RFC 1994 §4.1, §4.2.

func chapValueData(value []byte, name string) []byte {
	b := make([]byte, 0, 1+len(value)+len(name))
	b = append(b, byte(len(value)))
	b = append(b, value...)
	return append(b, name...)
}

func parseCHAPValue(d []byte) (value, name []byte, ok bool) {
	n, rest, ok := wire.Uint8(d)
	if !ok {
		return nil, nil, false
	}
	value, name, ok = wire.Bytes(rest, int(n))
	return value, name, ok
}

// chapMD5Response is MD5(Identifier || secret || challenge).
// Ref: RFC 1994 §4.1.
func chapMD5Response(id uint8, secret string, chal []byte) [16]byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(secret))
	h.Write(chal)
	var out [16]byte
	h.Sum(out[:0])
	return out
}
