package l2tp

import (
	"math"
	"strings"
	"testing"
)

// TestStringAllValues calls String on every value of each enum type: it
// must never panic, and names values outside the table by number.
func TestStringAllValues(t *testing.T) {
	for v := range math.MaxUint8 + 1 {
		for _, s := range []string{lacState(v).String(), lnsState(v).String()} {
			if s == "" {
				t.Fatalf("state %d has an empty name", v)
			}
		}
	}
	if s := lacState(lacNoCall + 1).String(); s != "lacState(5)" {
		t.Errorf("lacState(5) = %q", s)
	}
	if s := lnsState(lnsEstablished + 1).String(); s != "lnsState(5)" {
		t.Errorf("lnsState(5) = %q", s)
	}
	for v := range math.MaxUint16 + 1 {
		mt := MsgType(v)
		s := mt.String()
		if mt.Known() == strings.HasPrefix(s, "MsgType(") {
			t.Fatalf("MsgType %d: Known %v, String %q", v, mt.Known(), s)
		}
	}
	for v := range math.MaxUint16 + 1 {
		se := &StopError{Result: uint16(v), ErrorCode: uint16(v), Tunnel: v%2 == 0}
		if !strings.HasPrefix(se.Error(), "l2tp: ") {
			t.Fatalf("StopError %d: %q", v, se.Error())
		}
	}
}
