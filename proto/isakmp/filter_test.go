package isakmp

import (
	"encoding/binary"
	"testing"
)

// hdr is an ISAKMP header with the given cookies, exchange and flags, whose
// Length field covers the header alone.
func hdr(ci, cr byte, x ExchangeType, flags byte) []byte {
	b := make([]byte, headerLen)
	for i := range 8 {
		b[i], b[8+i] = ci, cr
	}
	b[17], b[18], b[19] = Version, byte(x), flags
	binary.BigEndian.PutUint32(b[24:], headerLen)
	return b
}

func TestWellFormed(t *testing.T) {
	long := append(hdr(1, 2, ExchangeMain, 0), 0)
	binary.BigEndian.PutUint32(long[24:], headerLen+1)
	badVer := hdr(1, 2, ExchangeMain, 0)
	badVer[17] = 0x20
	over := hdr(1, 2, ExchangeMain, 0)
	binary.BigEndian.PutUint32(over[24:], headerLen+1)
	under := hdr(1, 2, ExchangeMain, 0)
	binary.BigEndian.PutUint32(under[24:], headerLen-1)
	for _, tc := range []struct {
		name string
		msg  []byte
		want bool
	}{
		{"header", hdr(1, 2, ExchangeMain, 0), true},
		{"longer", long, true},
		{"trailing bytes", append(hdr(1, 2, ExchangeMain, 0), 9, 9), true},
		{"short", hdr(1, 2, ExchangeMain, 0)[:headerLen-1], false},
		{"empty", nil, false},
		{"version 2", badVer, false},
		{"length past end", over, false},
		{"length under header", under, false},
	} {
		if got := WellFormed(tc.msg); got != tc.want {
			t.Errorf("%s: WellFormed = %v, want %v", tc.name, got, tc.want)
		}
		var h Header
		if got := h.UnmarshalBinary(tc.msg) == nil; got != tc.want {
			t.Errorf("%s: UnmarshalBinary accepts = %v, WellFormed should agree", tc.name, got)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	var ours, theirs [8]byte
	for i := range 8 {
		ours[i], theirs[i] = 1, 2
	}
	early := Filter{ICookie: ours, Refusal: true}
	up := Filter{ICookie: ours, RCookie: theirs}
	for _, tc := range []struct {
		name string
		f    Filter
		msg  []byte
		want bool
	}{
		{"our cookie before phase 1", early, hdr(1, 7, ExchangeMain, 0), true},
		{"other cookie", early, hdr(3, 2, ExchangeMain, 0), false},
		{"refusal under a fresh cookie", early, hdr(3, 0, ExchangeInformational, 0), true},
		{"refusal with a responder cookie", early, hdr(3, 2, ExchangeInformational, 0), false},
		{"encrypted refusal", early, hdr(3, 0, ExchangeInformational, FlagEncryption), false},
		{"refusal not awaited", up, hdr(3, 0, ExchangeInformational, 0), false},
		{"phase 1 up, both cookies", up, hdr(1, 2, ExchangeQuick, FlagEncryption), true},
		{"phase 1 up, other responder cookie", up, hdr(1, 7, ExchangeQuick, FlagEncryption), false},
		{"zero filter", Filter{}, hdr(0, 0, ExchangeMain, 0), false},
		{"short", early, hdr(1, 2, ExchangeMain, 0)[:20], false},
	} {
		if got := tc.f.Match(tc.msg); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFilterOfInitiator checks that an Initiator's Filter follows its state
// through the SoftEther capture: our cookie from Start on, refusals only
// while message 2 is awaited, the responder cookie once phase 1 is up; and
// that every message of the capture passes it.
func TestFilterOfInitiator(t *testing.T) {
	c := loadCapture(t, "softether_mm_qm.json")
	msgs := capturedServerMessages(t)
	for k := range msgs {
		in := initiatorAt(t, c, k)
		f := in.Filter()
		if f.ICookie == ([8]byte{}) || f.Refusal != (k == 0) || (f.RCookie == [8]byte{}) != (in.st != mmDone) {
			t.Errorf("before message %d (state %v): %+v", k, in.st, f)
		}
		if !WellFormed(msgs[k]) || !f.Match(msgs[k]) {
			t.Errorf("message %d of the capture does not pass the filter", k)
		}
	}
}
