package isakmp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// TestAppendBinaryRejects: the exported encoders refuse what does not fit
// the wire format instead of writing a wrong length.
func TestAppendBinaryRejects(t *testing.T) {
	big := make([]byte, 0x10000)
	for _, tc := range []struct {
		name string
		c    interface {
			AppendBinary([]byte) ([]byte, error)
		}
	}{
		{"SA SPI of 256 bytes", &SA{DOI: DOIIPsec, Proposals: []Proposal{{SPI: make([]byte, 256)}}}},
		{"SA 256 transforms", &SA{DOI: DOIIPsec, Proposals: []Proposal{{Transforms: make([]Transform, 256)}}}},
		{"SA attribute type past 15 bits", &SA{Proposals: []Proposal{{Transforms: []Transform{{Attrs: []Attr{tvAttr(0x8001, 1)}}}}}}},
		{"SA TLV of 64 KiB", &SA{Proposals: []Proposal{{Transforms: []Transform{{Attrs: []Attr{{Type: 2, Var: big}}}}}}}},
		{"SA transform of 64 KiB", &SA{Proposals: []Proposal{{Transforms: []Transform{{Attrs: []Attr{{Type: 2, Var: big[:0xfff0]}, {Type: 2, Var: big[:0x100]}}}}}}}},
		{"N SPI of 256 bytes", &Notify{SPI: make([]byte, 256)}},
		{"D SPI size mismatch", &Delete{SPISize: 4, SPIs: [][]byte{{1, 2, 3}}}},
		{"D 65536 SPIs", &Delete{SPIs: make([][]byte, 0x10000)}},
		{"NAT-OA without address", &NATOA{}},
		{"message with a 64 KiB payload", &Message{Payloads: []Payload{{Type: PayloadVendorID, Body: big}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := tc.c.AppendBinary(nil); !errors.Is(err, ErrUnencodable) || b != nil {
				t.Fatalf("AppendBinary = %x, %v", b, err)
			}
		})
	}
}

// TestBuildersParse: what the FSMs build with the error-free encoders is
// what the parsers accept, up to the largest values construction allows.
func TestBuildersParse(t *testing.T) {
	roundTrip := func(name string, b []byte, got, want codec) {
		t.Helper()
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: parsed %+v\nwant %+v", name, got, want)
		}
	}
	// MM1 with the most proposals NewInitiator allows and the longest lifetime.
	props := make([]suite.IKEProposal, maxChain)
	for i := range props {
		props[i] = suite.DefaultIKEProposals()[i%6]
	}
	in, err := NewInitiator(Config{PSK: []byte("k"), Rand: vectortest.NewRand(nil), Local: cliAddr, Remote: srvAddr,
		Proposals: props, IKELifetime: 0xffffffff * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mm1 []byte
	for _, a := range in.Start(t0) {
		if s, ok := a.(Send); ok {
			mm1 = s.Data
		}
	}
	m, err := ParseMessage(mm1)
	if err != nil {
		t.Fatal(err)
	}
	var sa SA
	if err := sa.UnmarshalBinary(m.Payloads[0].Body); err != nil || len(sa.Proposals[0].Transforms) != maxChain {
		t.Fatalf("MM1 SA: %v", err)
	}
	if p, ok := ikeFromAttrs(sa.Proposals[0].Transforms[maxChain-1].Attrs); !ok || p != props[maxChain-1] {
		t.Fatalf("last transform is %v", p)
	}
	if life, _ := findAttr(sa.Proposals[0].Transforms[0].Attrs, AttrLifeDuration); life != 0xffffffff {
		t.Fatalf("lifetime %d", life)
	}

	// A Quick Mode SA with the most ESP transforms NewInitiator allows.
	var trs []Transform
	for i := 0; i < maxChain; i++ {
		trs = append(trs, Transform{Num: uint8(i + 1), ID: suite.ESPAES, Attrs: espAttrs(suite.DefaultESPTransforms(false)[0], EncapUDPTransport, 100000*time.Hour, 0)})
	}
	esp := SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{{Num: 1, Protocol: ProtoIPsecESP, SPI: []byte{1, 2, 3, 4}, Transforms: trs}}}
	roundTrip("ESP SA", esp.append(nil), &SA{}, &esp)

	ck := bytes.Repeat([]byte{7}, 16)
	for _, n := range []Notify{
		{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPI: ck, Type: NotifyRUThere, Data: []byte{0, 0, 0, 1}},
		{DOI: DOIIPsec, Protocol: ProtoIPsecESP, SPI: []byte{}, Type: NotifyNoProposalChosen, Data: []byte{}},
	} {
		roundTrip("N", n.append(nil), &Notify{}, &n)
	}
	for _, d := range []Delete{
		{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPISize: 16, SPIs: [][]byte{ck}},
		{DOI: DOIIPsec, Protocol: ProtoIPsecESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}}},
	} {
		roundTrip("D", d.append(nil), &Delete{}, &d)
	}
	for _, a := range []string{"10.200.0.2", "::ffff:10.200.0.2", "2001:db8::1"} {
		addr := netip.MustParseAddr(a)
		roundTrip("NAT-OA "+a, (&NATOA{Addr: addr}).append(nil), &NATOA{}, &NATOA{Addr: addr.Unmap()})
		typ, data := addrData(addr)
		roundTrip("ID "+a, addrIDBody(addr, ipProtoUDP, L2TPPort), &ID{}, &ID{Type: typ, Proto: ipProtoUDP, Port: L2TPPort, Data: data})
	}

	h := Header{ICookie: [8]byte{1}, RCookie: [8]byte{2}, Version: Version, Exchange: ExchangeInformational}
	ps := []Payload{{Type: PayloadNotify, Body: []byte{0, 0, 0, 1, 1, 0, 0, 14}}, {Type: PayloadVendorID, Body: VIDDPD}}
	pm, err := ParseMessage(plainMessage(h, ps))
	if err != nil || !reflect.DeepEqual(pm.Payloads, ps) || pm.Header.NextPayload != PayloadNotify {
		t.Fatalf("plainMessage parsed %+v, %v", pm, err)
	}
}
