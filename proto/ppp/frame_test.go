package ppp

import (
	"bytes"
	"fmt"
	"testing"
)

func TestParseFrame(t *testing.T) {
	for _, tc := range []struct {
		in    string
		proto uint16
		info  string
		ok    bool
	}{
		{"ff03c021 0101", ProtoLCP, "0101", true},
		{"c021 0101", ProtoLCP, "0101", true},     // ACFC
		{"ff03 21 4500", ProtoIPv4, "4500", true}, // PFC
		{"21 4500", ProtoIPv4, "4500", true},      // ACFC + PFC
		{"ff030021", ProtoIPv4, "", true},         // empty information
		{"ff03", 0, "", false},                    // header only
		{"", 0, "", false},                        //
		{"ff03c0", 0, "", false},                  // truncated protocol
		{"ff03c020", 0, "", false},                // low byte even
		{"0000", 0, "", false},                    // low byte even
		{"ff03 8057 01", ProtoIPV6CP, "01", true}, //
		{"ff", 0xff, "", true},                    // 1-byte protocol 0xff (odd)
		{"ff04c021", 0xff, "04c021", true},        // not FF 03: PFC protocol ff
		{"ff03ff03c021", 0xff, "03c021", true},    // only one FF 03 is stripped
		{"0021 45", ProtoIPv4, "45", true},        //
		{"c023 0102", ProtoPAP, "0102", true},     //
		{"ff03 c223", ProtoCHAP, "", true},
	} {
		proto, info, ok := ParseFrame(unhex(t, tc.in))
		if ok != tc.ok || (ok && (proto != tc.proto || fmt.Sprintf("%x", info) != tc.info)) {
			t.Errorf("ParseFrame(%s) = %04x, %x, %v; want %04x, %s, %v", tc.in, proto, info, ok, tc.proto, tc.info, tc.ok)
		}
	}
}

func TestPutHeader(t *testing.T) {
	b := make([]byte, 6)
	PutHeader(b, ProtoIPv4)
	if !bytes.Equal(b[:4], []byte{0xff, 0x03, 0x00, 0x21}) {
		t.Fatalf("%x", b)
	}
}

func TestFrameAllocs(t *testing.T) {
	buf := make([]byte, 1500)
	n := testing.AllocsPerRun(1000, func() {
		PutHeader(buf, ProtoIPv4)
		p, info, ok := ParseFrame(buf)
		if !ok || p != ProtoIPv4 || len(info) != len(buf)-HeaderLen {
			t.Fatal("bad")
		}
	})
	if n != 0 {
		t.Fatalf("PutHeader+ParseFrame allocate %v times", n)
	}
}

func BenchmarkParseFrame(b *testing.B) {
	buf := make([]byte, 1400)
	PutHeader(buf, ProtoIPv4)
	b.ReportAllocs()
	for b.Loop() {
		ParseFrame(buf)
	}
}

func TestPacketCodec(t *testing.T) {
	for _, tc := range []struct {
		in  string
		ok  bool
		out string // canonical re-encoding
	}{
		{"01 06 000e 01040578 050601020304", true, "01 06 000e 01040578 050601020304"},
		{"05 01 0004", true, "05 01 0004"},
		{"05 01 0004 0000", true, "05 01 0004"}, // padding beyond Length ignored
		{"05 01 0003", false, ""},               // Length below header
		{"05 01 0010 00", false, ""},            // Length beyond data
		{"05 01", false, ""},
	} {
		var p Packet
		err := p.UnmarshalBinary(unhex(t, tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if err != nil {
			continue
		}
		got, err := p.AppendBinary(nil)
		if err != nil || fmt.Sprintf("%x", got) != stripSpaces(tc.out) {
			t.Errorf("%s: re-encoded %x", tc.in, got)
		}
	}
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{
		{"01040578 050601020304", 2, true},
		{"", 0, true},
		{"0702 0802", 2, true},
		{"0101", 0, false},      // length < 2
		{"0105 0578", 0, false}, // overruns
		{"01", 0, false},
	} {
		opts, err := ParseOptions(unhex(t, tc.in))
		if (err == nil) != tc.ok || len(opts) != tc.n {
			t.Errorf("ParseOptions(%s) = %v, %v", tc.in, opts, err)
			continue
		}
		if err == nil {
			b, _ := AppendOptions(nil, opts)
			if fmt.Sprintf("%x", b) != stripSpaces(tc.in) {
				t.Errorf("round trip %s → %x", tc.in, b)
			}
		}
	}
	if _, err := AppendOptions(nil, []Option{{1, make([]byte, 254)}}); err == nil {
		t.Error("oversized option encoded")
	}
}
