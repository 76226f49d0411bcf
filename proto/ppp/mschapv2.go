package ppp

import (
	"bytes"
	"crypto/des"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// MS-CHAPv2 (RFC 2759). The CHAP Response Value (Value-Size 49):
//
//	 0                   1                   2                   3
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   Peer-Challenge (16 octets)                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   Reserved, zero (8 octets)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   NT-Response (24 octets)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Flags     |
//	+-+-+-+-+-+-+-+-+
//
// Ref: RFC 2759 §4. Success Message: "S=<40 hex> M=<text>" (§5);
// Failure Message: "E=eeeeeeeeee R=r C=<32 hex> V=vvvvvvvvvv M=<text>" (§6).

// Magic constants of GenerateAuthenticatorResponse. Ref: RFC 2759 §8.7.
var (
	msv2Magic1 = []byte("Magic server to client signing constant")
	msv2Magic2 = []byte("Pad to make it do more than one iteration")
)

// msv2UserName strips a "DOMAIN\" prefix (RFC 2759 §4: the user name
// excluding any prepended domain); "@HUB" suffixes are kept (SoftEther).
func msv2UserName(user string) string {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		return user[i+1:]
	}
	return user
}

// ntPasswordHash is MD4 of the UTF-16LE password. Ref: RFC 2759 §8.3.
func ntPasswordHash(password string) [16]byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	h := md4.New()
	h.Write(b)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// hashNtPasswordHash is MD4 of the password hash. Ref: RFC 2759 §8.4.
func hashNtPasswordHash(pw [16]byte) [16]byte {
	h := md4.New()
	h.Write(pw[:])
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// challengeHash. Ref: RFC 2759 §8.2.
func challengeHash(peerChal, authChal [16]byte, user string) [8]byte {
	h := sha1.New()
	h.Write(peerChal[:])
	h.Write(authChal[:])
	h.Write([]byte(msv2UserName(user)))
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	return [8]byte(sum[:8])
}

// desKey spreads 56 key bits over 8 bytes (parity bits unset; crypto/des
// ignores them). Ref: RFC 2759 §8.6 (DesEncrypt).
func desKey(k []byte) []byte {
	return []byte{
		k[0],
		k[0]<<7 | k[1]>>1,
		k[1]<<6 | k[2]>>2,
		k[2]<<5 | k[3]>>3,
		k[3]<<4 | k[4]>>4,
		k[4]<<3 | k[5]>>5,
		k[5]<<2 | k[6]>>6,
		k[6] << 1,
	}
}

// challengeResponse. Ref: RFC 2759 §8.5. The error is crypto/des's, which
// fails only for a key that is not 8 bytes long, and desKey always returns
// 8 bytes.
func challengeResponse(chal [8]byte, pwHash [16]byte) ([24]byte, error) {
	var z [21]byte
	copy(z[:], pwHash[:])
	var out [24]byte
	for i := 0; i < 3; i++ {
		c, err := des.NewCipher(desKey(z[7*i : 7*i+7]))
		if err != nil {
			return [24]byte{}, fmt.Errorf("ppp: MS-CHAPv2: %w", err)
		}
		c.Encrypt(out[8*i:8*i+8], chal[:])
	}
	return out, nil
}

// generateNTResponse. Ref: RFC 2759 §8.1.
func generateNTResponse(authChal, peerChal [16]byte, user, password string) ([24]byte, error) {
	return challengeResponse(challengeHash(peerChal, authChal, user), ntPasswordHash(password))
}

// generateAuthenticatorResponse returns the 20-byte digest; "S=" plus its
// upper-case hex is the Success message's authenticator string.
// Ref: RFC 2759 §8.7.
func generateAuthenticatorResponse(password string, ntResp [24]byte, peerChal, authChal [16]byte, user string) [20]byte {
	hh := hashNtPasswordHash(ntPasswordHash(password))
	h := sha1.New()
	h.Write(hh[:])
	h.Write(ntResp[:])
	h.Write(msv2Magic1)
	var digest [sha1.Size]byte
	h.Sum(digest[:0])
	ch := challengeHash(peerChal, authChal, user)
	h = sha1.New()
	h.Write(digest[:])
	h.Write(ch[:])
	h.Write(msv2Magic2)
	var out [20]byte
	h.Sum(out[:0])
	return out
}

func formatAuthResponse(a [20]byte) string {
	return "S=" + strings.ToUpper(hex.EncodeToString(a[:]))
}

// parseMSCHAPv2Success parses a Success Message (RFC 2759 §5: "S=<auth
// string> M=<message>") leniently, as Windows servers get it wrong:
//
//   - blanks, CR, LF and NULs before "S=" are skipped;
//   - "S=" may be "s=", and the 40 hex digits may be in either case;
//   - whatever follows the 40 digits is accepted: nothing (no "M="), " M=",
//     "M=" without the space, several blanks, "m=", or other bytes; the
//     message is what follows the first "M=" ("m="), else those bytes,
//     without trailing NULs.
//
// The authenticator response itself is required: ok is false without "S="
// and 40 hex digits, and the caller then treats the server as not
// authentic, as a Success without it would let any server skip proving
// that it knows the password.
func parseMSCHAPv2Success(msg []byte) (auth [20]byte, text string, ok bool) {
	msg = bytes.TrimLeft(msg, " \t\r\n\x00")
	if len(msg) < authRespLen || (msg[0] != 'S' && msg[0] != 's') || msg[1] != '=' {
		return auth, "", false
	}
	if _, err := hex.Decode(auth[:], msg[2:authRespLen]); err != nil {
		return [20]byte{}, "", false
	}
	rest := trimNUL(msg[authRespLen:])
	for i := 0; i+1 < len(rest); i++ {
		// Byte by byte: bytes.ToUpper would change the length of
		// non-UTF-8 input, and with it the index.
		if (rest[i] == 'M' || rest[i] == 'm') && rest[i+1] == '=' {
			rest = rest[i+2:]
			break
		}
	}
	return auth, strings.TrimSpace(string(rest)), true
}

// msv2Failure is a parsed Failure Message. Ref: RFC 2759 §6.
type msv2Failure struct {
	Code    int  // E=
	Retry   bool // R=1
	Version int  // V=
	Message string
}

// parseMSCHAPv2Failure parses "E=691 R=0 C=... V=3 M=text". Unknown or
// malformed fields are skipped; ok is false without a numeric E=.
func parseMSCHAPv2Failure(msg []byte) (f msv2Failure, ok bool) {
	s := string(trimNUL(msg))
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, "M=") {
			f.Message = s[2:]
			break
		}
		field := s
		if i := strings.IndexByte(s, ' '); i >= 0 {
			field, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		k, v, found := strings.Cut(field, "=")
		if !found {
			continue
		}
		switch k {
		case "E":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				f.Code, ok = n, true
			}
		case "R":
			f.Retry = v == "1"
		case "V":
			f.Version, _ = strconv.Atoi(v)
		}
	}
	return f, ok
}
