package isakmp

import "testing"

// TestStringEveryValue calls String on every value of each enum type that
// has one: none may panic or be empty, and names stay distinct.
func TestStringEveryValue(t *testing.T) {
	check := func(typ string, n int, str func(int) string) {
		t.Helper()
		seen := map[string]int{}
		for v := 0; v < n; v++ {
			s := str(v)
			if s == "" {
				t.Errorf("%s(%d).String() is empty", typ, v)
			}
			if w, dup := seen[s]; dup {
				t.Errorf("%s: %d and %d are both %q", typ, w, v, s)
			}
			seen[s] = v
		}
	}
	check("PayloadType", 1<<8, func(v int) string { return PayloadType(v).String() })
	check("ExchangeType", 1<<8, func(v int) string { return ExchangeType(v).String() })
	check("NotifyType", 1<<16, func(v int) string { return NotifyType(v).String() })
	check("mmState", 1<<8, func(v int) string { return mmState(v).String() })
	check("rState", 1<<8, func(v int) string { return rState(v).String() })
	check("qmState", 1<<8, func(v int) string { return qmState(v).String() })
	if s := mmState(200).String(); s != "mm-state(200)" {
		t.Errorf("mmState(200) = %q", s)
	}
}
