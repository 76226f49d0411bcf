package peertest

import (
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// Credentials every profile accepts unless a test changes them (the values
// of scripts/peer-up.sh, so logs read the same).
const (
	DefaultPSK      = "test-psk-123"
	DefaultUser     = "alice"
	DefaultPassword = "alice-pass"
)

// Profile is how the fake server behaves: which algorithms it accepts and
// which of the quirks of a real server it reproduces. Start from SoftEther()
// or Libreswan() and change fields for a test.
type Profile struct {
	Name string // for logs and test names

	// IKE and IPsec.
	PSK       []byte
	Proposals []suite.IKEProposal  // phase-1 transforms accepted; the first acceptable one in the client's order wins
	ESP       []suite.ESPTransform // ESP transforms accepted
	// ServerOrder: the first of Proposals the client offers wins (the
	// server's preference) instead of the client's first acceptable one.
	ServerOrder bool
	// SilentRefusal: an unacceptable Main Mode offer gets no answer at all
	// instead of NO-PROPOSAL-CHOSEN.
	SilentRefusal bool
	// CookieRefusal: NO-PROPOSAL-CHOSEN comes under a fresh initiator
	// cookie with the client's cookies as the notify's SPI (SoftEther).
	CookieRefusal bool
	PFS           suite.GroupID // Quick Mode PFS group demanded; 0: PFS refused
	// ESPModes are the encapsulation modes accepted in Quick Mode
	// (isakmp.ResponderConfig.ESPModes); nil: the transport modes. With a
	// tunnel mode the server expects and sends an inner IPv4 header.
	ESPModes []uint16
	// NoUDPESP drops ESP that arrives in UDP on the NAT-T port (counted
	// in Stats.UDPESPRefused): a server that wants plain ESP.
	NoUDPESP bool
	// ForceNAT makes the server's NAT-D for the client random, so that the
	// client always sees "behind NAT" (SoftEther).
	ForceNAT bool
	// Wildcard reproduces a server bound to 0.0.0.0 (SoftEther's default):
	// IDir is ID_IPV4_ADDR 0.0.0.0 and the server's own NAT-D is computed
	// over 0.0.0.0:500, so it never matches either.
	Wildcard bool
	// RekeyPastLifetime, if non-zero, makes the server start a Quick Mode
	// itself this long after the lifetime of the newest IPsec SA has run
	// out, i.e. at the client's proposed lifetime + RekeyPastLifetime
	// (SoftEther: 1 s). A client that re-keys at ~85 % of the lifetime
	// never sees it.
	RekeyPastLifetime time.Duration
	// RekeyAfter is a fixed time after each IPsec SA at which the server
	// starts a Quick Mode (isakmp.ResponderConfig.RekeyAfter); 0: never.
	// Server.Rekey starts one at once.
	RekeyAfter time.Duration
	SendDPD    bool                   // R-U-THERE every 10 s if the client sent the DPD vendor ID
	OnBadPSK   isakmp.BadPSKBehaviour // what an MM5 whose HASH_I does not verify gets
	// Phase-1 authentication. Cert (non-nil) makes the server
	// authenticate with certificates: Chain and Key are the server's, CAs
	// verify the client's certificate. CertOnRequest sends the server's
	// certificate only to a client that sent a certificate request (as
	// Windows and many others do). ID is the server's identity (nil: its
	// address, or its certificate's subject). NoAggressive refuses
	// Aggressive Mode (its first message is dropped).
	Cert          *isakmp.CertAuth
	CertOnRequest bool
	ID            *isakmp.ID
	NoAggressive  bool
	// NATKeepalive is the interval of the server's NAT-T keepalives (one
	// byte 0xFF to the client's port) once phase 1 is up; 0: none.
	NATKeepalive time.Duration
	// DeleteNewSAs: the server deletes its first DeleteNewSAs IPsec SAs
	// right after Quick Mode (a Delete at once), as strongSwan does when
	// its kernel cannot install them and SoftEther when message 3 of its
	// Quick Mode was lost.
	DeleteNewSAs int
	// LoseIPCPCalls: in the first LoseIPCPCalls L2TP calls every IPCP
	// packet is lost, both ways (SoftEther's IPCP under heavy loss).
	LoseIPCPCalls int
	// LoseLCPRequestCalls: in the first LoseLCPRequestCalls L2TP calls
	// every LCP Configure-Request of the server is lost on its way to the
	// client; its Acks of the client's requests arrive (SoftEther when
	// its requests expired under heavy loss: it acks, and never asks).
	LoseLCPRequestCalls int
	// LoseSuccessInCall: in this L2TP call (1 for the first; 0: none) the
	// server's CHAP Success or PAP Ack is lost.
	LoseSuccessInCall int
	// DeleteIKEOnSession: when each of the first DeleteIKEOnSession L2TP
	// calls comes up, the server deletes its IPsec SAs and the IKE SA
	// (Deletes sent once) and forgets the session, as SoftEther once did
	// under heavy loss.
	DeleteIKEOnSession int

	// L2TP.
	HostName      string        // Host Name AVP in SCCRP
	VendorName    string        // Vendor Name AVP in SCCRP
	RecvWindow    uint16        // Receive Window Size AVP
	HelloInterval time.Duration // HELLO after this much silence
	// LengthBit sends data messages with the L bit (header 0x4002 +
	// Length, 8 bytes), as SoftEther and xl2tpd ("length bit = yes") do.
	LengthBit bool
	// PPPOnFirstData: the server's PPP starts only when the client's first
	// data frame arrives (SoftEther); otherwise it sends its LCP
	// Configure-Request as soon as the session is up (xl2tpd spawns pppd
	// on ICCN).
	PPPOnFirstData bool
	// L2TPSecret is the tunnel secret: the LNS then challenges the client,
	// answers its Challenge, hides its Assigned Tunnel and Session IDs and
	// Challenge Response, and unhides the client's (xl2tpd with
	// "challenge = yes" and an l2tp-secrets entry). nil: none, and a
	// client's Challenge is ignored.
	L2TPSecret []byte
	// L2TPPlainAVPs: with L2TPSecret, authenticate but hide nothing.
	L2TPPlainAVPs bool
	// SendSLI: a Set-Link-Info (ACCM) right after ICCN; SendWEN: then a
	// WAN-Error-Notify (Meraki's Katalix stack sends SLI).
	SendSLI, SendWEN bool
	// VendorAVPs are added to SCCRP as they are (vendor AVPs without the M
	// bit, say).
	VendorAVPs []l2tp.AVP

	// PPP (the authenticator).
	Auth       []ppp.AuthMethod // requested in this order, advancing on each Nak/Reject
	HonourNak  bool             // jump to the method the client suggests (pppd)
	Insist     bool             // request the last method again when refused (a server allowing one method)
	EAPMethods []ppp.AuthMethod // inside EAP: MSCHAPv2 (EAP-MSCHAPv2), CHAPMD5 (EAP-MD5); none: EAP Failure after the Identity
	// SoftEtherEAP: EAP is EAP-TLS only; a Nak gets a Protocol-Reject and
	// LCP renegotiated for the next method, which never starts (SoftEther).
	SoftEtherEAP bool
	// SendIPv6CP: once IPCP is open, the server also starts IPv6CP (one
	// Configure-Request), as a server with IPv6 enabled does; the client
	// must Protocol-Reject it (Stats.ProtoRejects) and carry on.
	SendIPv6CP bool
	// IPv6 runs IPv6CP (ppp.ServerConfig.IPv6) with InterfaceID (0:
	// random), and answers ICMPv6 echo requests to the server's link-local
	// address once it is up.
	IPv6        bool
	InterfaceID uint64
	// MSCHAPv2Success formats the MS-CHAPv2 Success message from
	// "S=<40 hex digits>" (ppp.ServerConfig.MSCHAPv2Success); nil: RFC 2759.
	MSCHAPv2Success      func(authResp string) string
	Users                map[string]string // user → password
	AuthName             string            // CHAP Name
	Local                netip.Addr        // the server's PPP address (answers pings)
	Pool                 netip.Addr        // the address handed to the client
	Subnet               netip.Prefix      // pings to any address in it are answered too
	DNS                  []netip.Addr      // offered via IPCP; a missing secondary is Rejected
	RejectMagic          bool              // Configure-Reject everything but MRU and Auth-Protocol (SoftEther)
	SendMagic            bool              // request a Magic-Number (pppd)
	MRU                  uint16            // MRU the server requests; 0: none
	PAPFailureTerminates bool              // wrong PAP password → LCP Terminate-Request, no Nak (SoftEther)
	AuthOkOnce           bool              // the PAP Ack or CHAP Success goes once; a retransmitted request is not answered (SoftEther)
	EchoInterval         time.Duration     // LCP Echo-Request interval; 0: none
	// IPv4 gets a copy of every IPv4 packet from the client that is not
	// a ping the server answers, once IPCP is open (called from the
	// server's loop: it must not block). With Server.SendIPv4 it puts a
	// network behind the server, e.g. a userspace TCP/IP stack.
	IPv4 func(pkt []byte)
	// IPv6Packets is IPv4's counterpart for IPv6 (with IPv6): every IPv6
	// packet from the client that is not a ping to the server's link-local
	// address, once IPv6CP is open. Server.SendPPP sends the answers.
	IPv6Packets func(pkt []byte)

	// Data, if not nil, hands the ESP data path to someone else (the
	// benchmark peer's tunnel.ServerPath): the server does not read its
	// NAT-T socket, which that data path reads instead, passing the
	// control messages back through Server.Inject; the hooks tell it
	// about the session, its SAs and its L2TP IDs.
	Data *DataHooks

	Rand io.Reader // nil: crypto/rand
	// Now is the server's clock: every FSM gets its time, and the FSM
	// deadlines are checked against it every 20 ms of real time. nil:
	// time.Now. A test with a fake clock passes the same clock here and
	// to the client.
	Now func() time.Time
	// Busy, if not nil, marks the server busy until the function it
	// returns is called: the server calls it for each datagram from its
	// reader's hand-over until its loop has handled it, and for each
	// request of the test (SendPPP, SendIPv4, Hangup) until it is done. A
	// test's fake clock (Now) uses it so as not to move on while the
	// server works.
	Busy func(what string) func()
}

func defaultUsers() map[string]string { return map[string]string{DefaultUser: DefaultPassword} }

// SoftEther is SoftEther VPN Server 5.01 as measured in
// docs/interop.md: any phase-1 transform we have,
// ESP with SHA1 only, random NAT-D, IDir 0.0.0.0, server-initiated re-key
// at the proposed SA lifetime + 1 s, DPD every 10 s, keepalives after 5 s, L2TP HELLO every ~8.8 s, data with
// the L bit, PPP only after the client's first data frame, auth EAP →
// MS-CHAPv2 → PAP ignoring the client's suggestion (EAP being EAP-TLS only
// and stuck once given up), Magic-Number Rejected,
// one DNS server, a wrong PAP password answered by LCP Terminate-Request,
// the MS-CHAPv2 Success (and PAP Ack) sent once and never again,
// LCP echo every ~4.8 s, pool 192.168.30.10 behind 192.168.30.1.
func SoftEther() Profile {
	var props []suite.IKEProposal
	for _, g := range []suite.GroupID{suite.MODP2048, suite.MODP1024} {
		for _, h := range []suite.HashID{suite.HashSHA256, suite.HashSHA1} {
			for _, k := range []int{256, 128} {
				props = append(props, suite.IKEProposal{Enc: suite.EncAESCBC, KeyBits: k, Hash: h, Group: g})
			}
		}
	}
	return Profile{
		Name:      "softether",
		PSK:       []byte(DefaultPSK),
		Proposals: props,
		ESP: []suite.ESPTransform{ // no SHA2 for ESP
			{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1},
			{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1},
		},
		CookieRefusal:     true,
		ForceNAT:          true,
		Wildcard:          true,
		RekeyPastLifetime: time.Second,
		SendDPD:           true,
		OnBadPSK:          isakmp.BadPSKResendMM4,
		NATKeepalive:      5 * time.Second,

		HostName:       "l2tp-softether",
		VendorName:     "L2TP",
		RecvWindow:     16,
		HelloInterval:  8800 * time.Millisecond,
		LengthBit:      true,
		PPPOnFirstData: true,

		Auth:                 []ppp.AuthMethod{ppp.EAP, ppp.MSCHAPv2, ppp.PAP},
		SoftEtherEAP:         true,
		Users:                defaultUsers(),
		AuthName:             "l2tp-softether",
		Local:                netip.MustParseAddr("192.168.30.1"),
		Pool:                 netip.MustParseAddr("192.168.30.10"),
		Subnet:               netip.MustParsePrefix("192.168.30.0/24"),
		DNS:                  []netip.Addr{netip.MustParseAddr("192.168.30.1")},
		RejectMagic:          true,
		PAPFailureTerminates: true,
		AuthOkOnce:           true,
		EchoInterval:         4800 * time.Millisecond,
	}
}

// Libreswan is hwdsl2/setup-ipsec-vpn (Libreswan + xl2tpd + pppd) with its
// defaults (docs/interop.md): phase 1 only
// aes{128,256}-sha{1,256}-modp2048, ESP AES-CBC with SHA1 or SHA2-256, a
// real NAT-D and IDir, no server re-key (rekey=no; the SA simply expires), DPD, data with the L
// bit, pppd that starts LCP at once, asks CHAP-MD5 first and honours the
// client's Nak (→ MS-CHAPv2), refuses PAP, requests MRU 1280 and a
// Magic-Number, offers DNS 8.8.8.8 and 8.8.4.4, local 192.168.42.1, pool
// from 192.168.42.10. A wrong PSK gets a plaintext AUTHENTICATION-FAILED
// notify (an assumption: what pluto sends was not measured).
func Libreswan() Profile {
	var props []suite.IKEProposal
	for _, h := range []suite.HashID{suite.HashSHA256, suite.HashSHA1} {
		for _, k := range []int{256, 128} {
			props = append(props, suite.IKEProposal{Enc: suite.EncAESCBC, KeyBits: k, Hash: h, Group: suite.MODP2048})
		}
	}
	return Profile{
		Name:      "libreswan",
		PSK:       []byte(DefaultPSK),
		Proposals: props,
		ESP: []suite.ESPTransform{ // phase2alg=...,aes128-sha1,aes256-sha1,...,aes128-sha2,aes256-sha2
			{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1},
			{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1},
			{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA256},
			{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA256},
		},
		SendDPD:      true,
		OnBadPSK:     isakmp.BadPSKNotify,
		NoAggressive: true, // Libreswan: aggressive=no by default

		HostName:      "vpnserver",
		VendorName:    "xelerance.com",
		RecvWindow:    4,
		HelloInterval: 60 * time.Second,
		LengthBit:     true,

		Auth:         []ppp.AuthMethod{ppp.CHAPMD5, ppp.MSCHAPv2}, // require chap, refuse pap, +mschap-v2
		HonourNak:    true,
		Users:        defaultUsers(),
		AuthName:     "l2tpd",
		Local:        netip.MustParseAddr("192.168.42.1"),
		Pool:         netip.MustParseAddr("192.168.42.10"),
		Subnet:       netip.MustParsePrefix("192.168.42.0/24"),
		DNS:          []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("8.8.4.4")},
		SendMagic:    true,
		MRU:          1280,
		EchoInterval: 30 * time.Second,
	}
}

// IPv6Peer is an xl2tpd + pppd-like server with "+ipv6" in its options
// (the Libreswan profile): pppd starts IPv6CP next to IPCP and proposes
// its Interface-Identifier, here 0200:5eff:fe00:0001 (link-local
// fe80::200:5eff:fe00:1, which answers pings).
func IPv6Peer() Profile {
	p := Libreswan()
	p.Name = "pppd-ipv6"
	p.IPv6, p.InterfaceID = true, 0x02005efffe000001
	return p
}

// MikroTik is a RouterOS-like L2TP server whose PPP profile allows CHAP-MD5
// only (a model: RouterOS offers PAP, CHAP, MS-CHAPv1 and v2, each can be
// switched off; docs/interop.md). The IKE and L2TP side is Libreswan's;
// PPP: CHAP-MD5 requested, and again when the client Naks it, MRU 1450,
// a Magic-Number, one DNS server, LCP echo every 10 s, and IPv6CP started
// after IPCP (which the client Protocol-Rejects).
func MikroTik() Profile {
	p := Libreswan()
	p.Name = "mikrotik"
	p.HostName, p.VendorName = "MikroTik", "MikroTik"
	p.Auth, p.HonourNak, p.Insist = []ppp.AuthMethod{ppp.CHAPMD5}, false, true
	p.AuthName = "MikroTik"
	p.Local = netip.MustParseAddr("10.10.10.1")
	p.Pool = netip.MustParseAddr("10.10.10.100")
	p.Subnet = netip.MustParsePrefix("10.10.10.0/24")
	p.DNS = []netip.Addr{netip.MustParseAddr("10.10.10.1")}
	p.MRU = 1450
	p.EchoInterval = 10 * time.Second
	p.SendIPv6CP = true // RouterOS runs IPv6 over PPP when the profile has it
	// RouterOS peers accept Aggressive Mode with a pre-shared key
	// (exchange-mode=aggressive); a wrong PSK then shows at the client as
	// a HASH_R in message 2 that does not verify.
	p.NoAggressive = false
	return p
}

// WindowsRRAS is a Windows Server RRAS-like L2TP server: MS-CHAPv2 only,
// with the malformed Success message Windows sends ("S=<hex>M=<text>"
// without the space; here also with lower-case hex digits, which RFC 2759
// does not allow either). Phase 1 as documented (docs/interop.md):
// AES-256/SHA1/ECP-384, AES-128/SHA1/ECP-256 and 3DES/SHA1/MODP-1024, in
// that order of the server's own preference; ESP AES-CBC or 3DES with SHA1.
// The L2TP side is Libreswan's; PPP requests no MRU, a Magic-Number,
// offers two DNS servers.
func WindowsRRAS() Profile {
	p := Libreswan()
	p.Name = "windows-rras"
	p.Proposals = []suite.IKEProposal{
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA1, Group: suite.ECP384},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.ECP256},
		{Enc: suite.Enc3DESCBC, KeyBits: 192, Hash: suite.HashSHA1, Group: suite.MODP1024},
	}
	p.ServerOrder = true
	p.ESP = []suite.ESPTransform{
		{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1},
		{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1},
		{Enc: suite.ESP3DES, KeyBits: 192, Auth: suite.AuthHMACSHA1},
	}
	p.HostName, p.VendorName = "RRAS", "Microsoft"
	p.Auth, p.HonourNak, p.Insist = []ppp.AuthMethod{ppp.MSCHAPv2}, false, true
	p.MSCHAPv2Success = func(a string) string { return "S=" + strings.ToLower(a[2:]) + "M=Access granted" }
	p.AuthName = "RRAS"
	p.Local = netip.MustParseAddr("172.16.0.1")
	p.Pool = netip.MustParseAddr("172.16.0.10")
	p.Subnet = netip.MustParsePrefix("172.16.0.0/24")
	p.DNS = []netip.Addr{netip.MustParseAddr("172.16.0.1"), netip.MustParseAddr("172.16.0.2")}
	p.MRU = 0
	// With a machine certificate (a test sets Cert): RSA signatures in
	// Main Mode, IDir its certificate's subject DN, its certificate sent
	// only after a certificate request.
	p.CertOnRequest = true
	return p
}

// EAPServer is a server (pppd with a RADIUS backend, say) that asks for EAP
// only, then offers the given methods inside it in that order
// (ppp.MSCHAPv2: EAP-MSCHAPv2, ppp.CHAPMD5: EAP-MD5) and takes the
// client's Nak. The IKE and L2TP side is Libreswan's.
func EAPServer(inner ...ppp.AuthMethod) Profile {
	p := Libreswan()
	p.Name = "eap"
	p.Auth, p.HonourNak, p.Insist, p.EAPMethods = []ppp.AuthMethod{ppp.EAP}, false, true, inner
	return p
}

// Meraki is a Cisco Meraki MX client VPN as docs/interop.md describes it:
// phase 1 only 3DES/SHA1/MODP-1024 and ESP 3DES/SHA1 (the MX also takes
// AES-128 in phase 2; left out so that the client's legacy ESP offer is
// exercised), so a client needs legacy algorithms allowed; a Katalix
// (go-l2tp) LNS that names itself in the Vendor Name, adds vendor AVPs
// without the M bit, sends Set-Link-Info after ICCN (and here a
// WAN-Error-Notify too), and a PPP server that asks for PAP only, again
// after each Nak.
func Meraki() Profile {
	p := Libreswan()
	p.Name = "meraki"
	p.Proposals = []suite.IKEProposal{{Enc: suite.Enc3DESCBC, KeyBits: 192, Hash: suite.HashSHA1, Group: suite.MODP1024}}
	p.ESP = []suite.ESPTransform{{Enc: suite.ESP3DES, KeyBits: 192, Auth: suite.AuthHMACSHA1}}
	p.HostName = "meraki-mx"
	p.VendorName = "Katalix Systems Ltd. Linux-4.4.177-meraki (x86_64)"
	p.VendorAVPs = []l2tp.AVP{
		{Vendor: 9, Type: 1, Value: []byte{0, 0, 0, 1}},   // Cisco, M=0
		{Vendor: 311, Type: 1, Value: []byte{0, 0, 0, 0}}, // Microsoft, M=0
	}
	p.SendSLI, p.SendWEN = true, true
	// pppd allowing PAP only asks for it again when the client Naks it.
	p.Auth, p.HonourNak, p.Insist = []ppp.AuthMethod{ppp.PAP}, false, true
	return p
}
