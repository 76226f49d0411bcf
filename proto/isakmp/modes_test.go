package isakmp

import (
	"errors"
	"testing"
	"time"
)

// tunnelModes is what a server that insists on tunnel mode accepts.
var tunnelModes = []uint16{EncapTunnel, EncapUDPTunnel, EncapUDPTunnelDraft}

func TestPairEncapModes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		rcfg      ResponderConfig
		wantMode  uint16
		wantPlain bool
		wantErr   error
		wantNote  uint16 // a NotifyError of this type
	}{
		{name: "transport offered first", cfg: Config{OfferTunnel: true}, rcfg: ResponderConfig{ForceNAT: true},
			wantMode: EncapUDPTransport},
		{name: "server insists on tunnel", cfg: Config{OfferTunnel: true}, rcfg: ResponderConfig{ForceNAT: true, ESPModes: tunnelModes},
			wantMode: EncapUDPTunnel},
		{name: "server insists on tunnel, draft NAT-T", cfg: Config{OfferTunnel: true}, rcfg: ResponderConfig{ForceNAT: true, DraftNATT: true, ESPModes: tunnelModes},
			wantMode: EncapUDPTunnelDraft},
		{name: "tunnel not offered", rcfg: ResponderConfig{ForceNAT: true, ESPModes: tunnelModes},
			wantNote: uint16(NotifyNoProposalChosen)},
		{name: "plain always, no NAT", cfg: Config{PlainESP: PlainESPAlways, OfferTunnel: true}, rcfg: ResponderConfig{},
			wantMode: EncapTransport, wantPlain: true},
		{name: "plain always, tunnel", cfg: Config{PlainESP: PlainESPAlways, OfferTunnel: true}, rcfg: ResponderConfig{ESPModes: tunnelModes},
			wantMode: EncapTunnel, wantPlain: true},
		{name: "plain always, NAT", cfg: Config{PlainESP: PlainESPAlways}, rcfg: ResponderConfig{ForceNAT: true},
			wantErr: ErrPlainESPNAT},
		{name: "plain if no NAT, no NAT", cfg: Config{PlainESP: PlainESPIfNoNAT}, rcfg: ResponderConfig{},
			wantMode: EncapTransport, wantPlain: true},
		{name: "plain if no NAT, NAT", cfg: Config{PlainESP: PlainESPIfNoNAT}, rcfg: ResponderConfig{ForceNAT: true},
			wantMode: EncapUDPTransport},
		{name: "never plain, no NAT", rcfg: ResponderConfig{}, wantMode: EncapUDPTransport},
		{name: "plain refused by the server", cfg: Config{PlainESP: PlainESPAlways},
			rcfg:     ResponderConfig{ESPModes: []uint16{EncapUDPTransport, EncapUDPTransportDraft}},
			wantNote: uint16(NotifyNoProposalChosen)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, tc.cfg, tc.rcfg)
			var natts []bool
			p.drop = func(_ int, f flight) bool {
				if f.toResp {
					natts = append(natts, f.natt)
				}
				return false
			}
			p.run(time.Minute, func() bool { return failOf(p.inActs) != nil || p.upBoth(1)() })
			err := failOf(p.inActs)
			if tc.wantErr != nil || tc.wantNote != 0 {
				var ne *NotifyError
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) ||
					tc.wantNote != 0 && (!errors.As(err, &ne) || ne.Type != tc.wantNote) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ups, rups := childUps(p.inActs), childUps(p.rActs)
			mirrored(t, ups[0].SA, rups[0].SA)
			if got := ups[0].SA.EncapMode; got != tc.wantMode {
				t.Fatalf("mode %d, want %d", got, tc.wantMode)
			}
			if p1, ok := phase1Of(p.inActs); !ok || p1.PlainESP != tc.wantPlain {
				t.Fatalf("Phase1Up %+v", p1)
			}
			// Main Mode 1 and 3 go to port 500; from message 5 on, the NAT-T
			// port unless ESP is plain.
			if len(natts) < 4 || natts[0] || natts[1] {
				t.Fatalf("NATT flags %v", natts)
			}
			for _, n := range natts[2:] {
				if n == tc.wantPlain {
					t.Fatalf("NATT flags %v with plain ESP %v", natts, tc.wantPlain)
				}
			}
			if EncapIsUDP(tc.wantMode) == tc.wantPlain {
				t.Fatalf("mode %d with plain %v", tc.wantMode, tc.wantPlain)
			}
		})
	}
}

// A re-key keeps the mode the server chose (and both proposals stay on offer).
func TestPairTunnelModeRekey(t *testing.T) {
	p := newPair(t, Config{OfferTunnel: true, SALifetime: 60 * time.Second}, ResponderConfig{ForceNAT: true, ESPModes: tunnelModes})
	p.run(10*time.Minute, p.upBoth(3))
	if err := failOf(p.inActs); err != nil {
		t.Fatal(err)
	}
	for _, u := range childUps(p.inActs) {
		if u.SA.EncapMode != EncapUDPTunnel {
			t.Fatalf("SA %+v", u.SA)
		}
	}
}

func TestEncapModeKinds(t *testing.T) {
	for mode, want := range map[uint16][2]bool{
		EncapTunnel: {true, false}, EncapTransport: {false, false},
		EncapUDPTunnel: {true, true}, EncapUDPTransport: {false, true},
		EncapUDPTunnelDraft: {true, true}, EncapUDPTransportDraft: {false, true}, 0: {false, false},
	} {
		if EncapIsTunnel(mode) != want[0] || EncapIsUDP(mode) != want[1] {
			t.Errorf("mode %d: tunnel %v udp %v", mode, EncapIsTunnel(mode), EncapIsUDP(mode))
		}
	}
}
