package ppp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(stripSpaces(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// frame builds a control frame for a test; it fails the test when the
// packet cannot be encoded.
func frame(t testing.TB, proto uint16, code, id uint8, data ...[]byte) []byte {
	t.Helper()
	f, err := appendFrame(nil, proto, code, id, data...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func stripSpaces(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\n', '\t', '|':
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}

// RFC 2759 §9.2 "Hash Example".
const (
	rfcUser     = "User"
	rfcPassword = "clientPass"
	rfcAuthChal = "5B5D7C7D7B3F2F3E3C2C602132262628"
	rfcPeerChal = "21402324255E262A28295F2B3A337C7E"
	rfcChal     = "D02E4386BCE91226"
	rfcPwHash   = "44EBBA8D5312B8D611474411F56989AE"
	rfcPwHHash  = "41C00C584BD2D91C4017A2A12FA59F3F"
	rfcNTResp   = "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"
	rfcAuthResp = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
)

func TestMSCHAPv2RFC2759Vectors(t *testing.T) {
	authChal := [16]byte(unhex(t, rfcAuthChal))
	peerChal := [16]byte(unhex(t, rfcPeerChal))

	if got := ntPasswordHash(rfcPassword); !bytes.Equal(got[:], unhex(t, rfcPwHash)) {
		t.Errorf("NtPasswordHash = %X, want %s", got, rfcPwHash)
	}
	if got := hashNtPasswordHash(ntPasswordHash(rfcPassword)); !bytes.Equal(got[:], unhex(t, rfcPwHHash)) {
		t.Errorf("HashNtPasswordHash = %X, want %s", got, rfcPwHHash)
	}
	if got := challengeHash(peerChal, authChal, rfcUser); !bytes.Equal(got[:], unhex(t, rfcChal)) {
		t.Errorf("ChallengeHash = %X, want %s", got, rfcChal)
	}
	if got, err := challengeResponse([8]byte(unhex(t, rfcChal)), ntPasswordHash(rfcPassword)); err != nil || !bytes.Equal(got[:], unhex(t, rfcNTResp)) {
		t.Errorf("ChallengeResponse = %X, %v, want %s", got, err, rfcNTResp)
	}
	nt, err := generateNTResponse(authChal, peerChal, rfcUser, rfcPassword)
	if err != nil || !bytes.Equal(nt[:], unhex(t, rfcNTResp)) {
		t.Errorf("GenerateNTResponse = %X, %v, want %s", nt, err, rfcNTResp)
	}
	a := generateAuthenticatorResponse(rfcPassword, nt, peerChal, authChal, rfcUser)
	if got := formatAuthResponse(a); got != rfcAuthResp {
		t.Errorf("GenerateAuthenticatorResponse = %s, want %s", got, rfcAuthResp)
	}
	// A DOMAIN\ prefix is not part of the ChallengeHash (RFC 2759 §4).
	if got := challengeHash(peerChal, authChal, `CORP\User`); !bytes.Equal(got[:], unhex(t, rfcChal)) {
		t.Errorf(`ChallengeHash(CORP\User) = %X, want %s`, got, rfcChal)
	}
	// "@HUB" is kept (SoftEther): the hash must differ.
	if got := challengeHash(peerChal, authChal, "User@HUB"); bytes.Equal(got[:], unhex(t, rfcChal)) {
		t.Errorf("ChallengeHash(User@HUB) must not drop @HUB")
	}
}

func TestMSCHAPv2NonASCIIPassword(t *testing.T) {
	// UTF-16LE of "é" is E9 00; of "😀" a surrogate pair.
	a, b := ntPasswordHash("é"), ntPasswordHash("😀")
	if a == b || a == ntPasswordHash("e") {
		t.Fatal("non-ASCII passwords must hash distinctly")
	}
}

func TestParseMSCHAPv2Success(t *testing.T) {
	want := [20]byte(unhex(t, "407A5589115FD0D6209F510FE9C04566932CDA56"))
	for _, tc := range []struct {
		in   string
		ok   bool
		text string
	}{
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted", true, "Access granted"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56M=Welcome", true, "Welcome"}, // Windows
		{"S=407a5589115fd0d6209f510fe9c04566932cda56", true, ""},
		{"  S=407A5589115FD0D6209F510FE9C04566932CDA56 M=x\x00", true, "x"},
		{"s=407a5589115FD0D6209F510FE9C04566932CDA56 m=lower", true, "lower"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56\r\n", true, ""},
		{"\x00\r\nS=407A5589115FD0D6209F510FE9C04566932CDA56", true, ""},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56   M=  spaced ", true, "spaced"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56;garbage", true, ";garbage"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56 junk M=text", true, "text"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA5600 M=x", true, "x"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA5", false, ""},
		{"M=Access granted", false, ""},
		{"S=", false, ""},
		{"S=407A5589115FD0D6209F510FE9C04566932CDAZZ", false, ""},
		{"E=691 R=0", false, ""},
		{"", false, ""},
	} {
		got, text, ok := parseMSCHAPv2Success([]byte(tc.in))
		if ok != tc.ok || (ok && (got != want || text != tc.text)) {
			t.Errorf("parse(%q) = %X, %q, %v; want ok=%v text %q", tc.in, got, text, ok, tc.ok, tc.text)
		}
	}
}

func TestParseMSCHAPv2Failure(t *testing.T) {
	for _, tc := range []struct {
		in    string
		code  int
		retry bool
		msg   string
		ok    bool
	}{
		{"E=691 R=0 C=0123456789ABCDEF0123456789ABCDEF V=3", 691, false, "", true},
		{"E=691 R=1 C=0123456789ABCDEF0123456789ABCDEF V=3 M=Authentication failure", 691, true, "Authentication failure", true},
		{"E=648 R=0 V=3 M=password expired", 648, false, "password expired", true},
		{"M=no code", 0, false, "no code", false},
		{"garbage", 0, false, "", false},
		{"E=x", 0, false, "", false},
	} {
		f, ok := parseMSCHAPv2Failure([]byte(tc.in))
		if ok != tc.ok || f.Code != tc.code || f.Retry != tc.retry || f.Message != tc.msg {
			t.Errorf("parse(%q) = %+v, %v", tc.in, f, ok)
		}
	}
}
