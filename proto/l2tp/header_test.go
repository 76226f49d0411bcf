package l2tp

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		hex     string
		want    Header
		payload string // hex
		err     bool
	}{
		{name: "our data header", hex: "0002 1234 5678 ff03c021",
			want: Header{TunnelID: 0x1234, SessionID: 0x5678}, payload: "ff03c021"},
		{name: "softether data, L bit", hex: "4002 000c 0001 0002 ff03c021",
			want: Header{HasLength: true, Length: 12, TunnelID: 1, SessionID: 2}, payload: "ff03c021"},
		{name: "L bit, trailing bytes beyond Length dropped", hex: "4002 000a 0001 0002 ff03 dead",
			want: Header{HasLength: true, Length: 10, TunnelID: 1, SessionID: 2}, payload: "ff03"},
		{name: "data with S and O, offset 2 + pad", hex: "4a02 0012 0001 0002 0003 0004 0002 0000 ff03",
			want: Header{HasLength: true, HasSeq: true, Length: 18, TunnelID: 1, SessionID: 2, Ns: 3, Nr: 4}, payload: "ff03"},
		{name: "data with P bit", hex: "0102 0001 0002 ff03",
			want: Header{TunnelID: 1, SessionID: 2}, payload: "ff03"},
		{name: "control ZLB", hex: "c802 000c 0001 0000 0002 0003",
			want: Header{Control: true, HasLength: true, HasSeq: true, Length: 12, TunnelID: 1, Ns: 2, Nr: 3}, payload: ""},
		{name: "empty", hex: "", err: true},
		{name: "one byte", hex: "00", err: true},
		{name: "version 3", hex: "0003 0001 0002", err: true},
		{name: "version 1 (L2F)", hex: "0001 0001 0002", err: true},
		{name: "short tunnel", hex: "0002 00", err: true},
		{name: "Length beyond packet", hex: "4002 0010 0001 0002", err: true},
		{name: "Length below header", hex: "c802 0008 0001 0000 0002 0003", err: true},
		{name: "offset beyond message", hex: "0202 0001 0002 0010 00", err: true},
		{name: "offset field missing", hex: "0202 0001 0002", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, p, err := ParseHeader(unhex(t, tt.hex))
			if tt.err {
				if err == nil || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.want {
				t.Errorf("header = %+v, want %+v", h, tt.want)
			}
			if !bytes.Equal(p, unhex(t, tt.payload)) {
				t.Errorf("payload = %x, want %s", p, tt.payload)
			}
		})
	}
}

func TestPutDataHeader(t *testing.T) {
	b := make([]byte, DataHeaderLen+2)
	PutDataHeader(b, 0x0102, 0x0304)
	if want := unhex(t, "0002 0102 0304 0000"); !bytes.Equal(b, want) {
		t.Errorf("got %x, want %x", b, want)
	}
}

func TestDataPathNoAllocs(t *testing.T) {
	buf := make([]byte, 1500)
	var sink int
	allocs := testing.AllocsPerRun(1000, func() {
		PutDataHeader(buf, 7, 9)
		h, p, err := ParseHeader(buf)
		if err != nil || h.SessionID != 9 {
			panic("bad header")
		}
		sink += len(p)
	})
	if allocs != 0 {
		t.Errorf("PutDataHeader+ParseHeader: %v allocs, want 0", allocs)
	}
	// The error path does not allocate either.
	bad := []byte{0x00, 0x03}
	allocs = testing.AllocsPerRun(1000, func() {
		if _, _, err := ParseHeader(bad); err == nil {
			panic("no error")
		}
	})
	if allocs != 0 {
		t.Errorf("ParseHeader error path: %v allocs, want 0", allocs)
	}
	_ = sink
}

func BenchmarkDataHeader(b *testing.B) {
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		PutDataHeader(buf, 7, 9)
		if _, _, err := ParseHeader(buf); err != nil {
			b.Fatal(err)
		}
	}
}
