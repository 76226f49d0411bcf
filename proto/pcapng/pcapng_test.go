package pcapng

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden blocks, written out by hand from draft-ietf-opsawg-pcapng §4.
func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		block interface{ AppendBinary([]byte) ([]byte, error) }
		want  string
	}{
		{"SHB without options", SectionHeader{}, `
			0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffffffffffff 1c000000`},
		{"SHB with shb_userappl", SectionHeader{UserApp: "l2"}, `
			0a0d0d0a 28000000 4d3c2b1a 0100 0000 ffffffffffffffff
			0400 0200 6c320000  0000 0000  28000000`},
		{"IDB raw, no options", Interface{LinkType: LinkTypeRaw}, `
			01000000 14000000 6500 0000 00000000 14000000`},
		{"IDB with name and nanoseconds", Interface{LinkType: LinkTypeRaw, SnapLen: 65535, Name: "outer", NanoTS: true}, `
			01000000 2c000000 6500 0000 ffff0000
			0200 0500 6f75746572000000  0900 0100 09000000  0000 0000  2c000000`},
		{"EPB with padding and direction", Packet{Interface: 1, Timestamp: 0x0000000100000002, Data: []byte{0xde, 0xad, 0xbe}, Flags: DirOutbound}, `
			06000000 30000000 01000000 01000000 02000000 03000000 03000000 deadbe00
			0200 0400 02000000  0000 0000  30000000`},
		{"EPB, original length kept", Packet{Timestamp: 5, OrigLen: 9, Data: []byte{1, 2, 3, 4}}, `
			06000000 24000000 00000000 00000000 05000000 04000000 09000000 01020304 24000000`},
	}
	for _, tt := range tests {
		got, err := tt.block.AppendBinary(nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if want := unhex(t, tt.want); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, got, want)
		}
	}
}

func sample() *File {
	return &File{
		Section: SectionHeader{UserApp: "l2tpctl test"},
		Interfaces: []Interface{
			{LinkType: LinkTypeRaw, Name: "outer", Description: "UDP to the server", NanoTS: true},
			{LinkType: LinkTypeIPv4, SnapLen: 128, Name: "l2tp"},
		},
		Packets: []Packet{
			{Interface: 0, Timestamp: Timestamp(time.Unix(1, 5), true), OrigLen: 3, Data: []byte{1, 2, 3}, Flags: DirOutbound},
			{Interface: 1, Timestamp: 7, OrigLen: 5, Data: []byte{1, 2, 3, 4, 5}, Flags: DirInbound},
			{Interface: 1, Timestamp: 8, OrigLen: 0, Data: []byte{}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	f := sample()
	b, err := f.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip:\n got %+v\nwant %+v", g, f)
	}
	if got := f.Packets[0].Timestamp; got != 1_000_000_005 {
		t.Errorf("timestamp %d, want 1000000005 ns", got)
	}
}

func TestParseErrors(t *testing.T) {
	good, _ := sample().AppendBinary(nil)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"not pcapng", bytes.Repeat([]byte{0xd4}, 40), ErrByteOrder},
		{"cut in a block", good[:len(good)-1], ErrShort},
		{"trailing length differs", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(), ErrLength},
		{"length not a multiple of 4", func() []byte { b := bytes.Clone(good); b[4] = 0x1d; return b }(), ErrLength},
		{"packet on an undescribed interface", func() []byte {
			f := sample()
			f.Packets[0].Interface = 9
			b, _ := f.AppendBinary(nil)
			return b
		}(), ErrType},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
}

// A big-endian file (as written on other machines) parses too.
func TestParseBigEndian(t *testing.T) {
	b := unhex(t, `
		0a0d0d0a 0000001c 1a2b3c4d 0001 0000 ffffffffffffffff 0000001c
		00000001 00000014 0065 0000 00000000 00000014
		00000006 00000024 00000000 00000000 00000009 00000001 00000001 aa000000 00000024`)
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Interfaces) != 1 || f.Interfaces[0].LinkType != LinkTypeRaw || len(f.Packets) != 1 ||
		f.Packets[0].Timestamp != 9 || !bytes.Equal(f.Packets[0].Data, []byte{0xaa}) {
		t.Errorf("parsed %+v", f)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := sample().AppendBinary(nil)
	f.Add(good)
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		enc, err := p.AppendBinary(nil)
		if err != nil {
			return
		}
		q, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v", err)
		}
		p.Other = 0 // skipped blocks are not written back
		for i := range p.Packets {
			p.Packets[i].OrigLen = max(p.Packets[i].OrigLen, uint32(len(p.Packets[i].Data)))
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("decode→encode→decode differs:\n%+v\n%+v", p, q)
		}
	})
}
