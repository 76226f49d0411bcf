package ppp

import (
	"math"
	"testing"
)

// TestStringAllValues calls String on every value of each enum type: it
// must never panic, and names values outside the table by number.
func TestStringAllValues(t *testing.T) {
	for v := range math.MaxUint8 + 1 {
		for _, s := range []string{fsmState(v).String(), phase(v).String(), AuthMethod(v).String()} {
			if s == "" {
				t.Fatalf("value %d has an empty name", v)
			}
		}
	}
	for _, tc := range []struct{ got, want string }{
		{fsmState(stOpened + 1).String(), "fsmState(10)"},
		{phase(phaseTerminate + 1).String(), "phase(5)"},
		{AuthMethod(numAuthMethods).String(), "auth(5)"},
		{phaseTerminate.String(), "terminate"},
		{stInitial.String(), "Initial"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for v := range math.MaxUint8 + 1 {
		for _, s := range []string{codeName(uint8(v)), authPacketName(ProtoPAP, uint8(v)), authPacketName(ProtoCHAP, uint8(v))} {
			if s == "" {
				t.Fatalf("code %d has an empty name", v)
			}
		}
	}
	if codeName(codeDiscard) != "Discard-Request" || codeName(12) != "code 12" || authPacketName(ProtoCHAP, 5) != "CHAP code 5" {
		t.Error("code names")
	}
	for v := range math.MaxUint16 + 1 {
		if protoName(uint16(v)) == "" {
			t.Fatalf("protocol %#04x has an empty name", v)
		}
	}
}
