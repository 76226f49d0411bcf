// Package isakmp implements the IKEv1 (ISAKMP, RFC 2408/2409) pieces an
// L2TP/IPsec client needs: the message and payload codecs, a Main Mode or
// Aggressive Mode (pre-shared key, or X.509 certificates with RSA or ECDSA
// signatures, RFC 4754) + Quick Mode initiator state machine with NAT
// traversal (RFC 3947) and DPD (RFC 3706), and a responder state machine
// used as an in-process test peer.
//
// The package is pure: bytes and events in, bytes and actions out. Time is
// passed in, randomness comes from Config.Rand.
package isakmp

import (
	"fmt"
	"time"
)

// PayloadType is the ISAKMP "Next Payload" value. Ref: RFC 2408 §3.1;
// RFC 3947 §3.2 and §5.2 (NAT-D 20, NAT-OA 21); draft-ietf-ipsec-nat-t-ike-02
// §5 (private-use values 130 and 131 used before the RFC).
type PayloadType uint8

// Payload types.
const (
	PayloadNone       PayloadType = 0
	PayloadSA         PayloadType = 1
	PayloadProposal   PayloadType = 2
	PayloadTransform  PayloadType = 3
	PayloadKE         PayloadType = 4
	PayloadID         PayloadType = 5
	PayloadCert       PayloadType = 6
	PayloadCR         PayloadType = 7
	PayloadHash       PayloadType = 8
	PayloadSig        PayloadType = 9
	PayloadNonce      PayloadType = 10
	PayloadNotify     PayloadType = 11
	PayloadDelete     PayloadType = 12
	PayloadVendorID   PayloadType = 13
	PayloadNATD       PayloadType = 20
	PayloadNATOA      PayloadType = 21
	PayloadNATDDraft  PayloadType = 130
	PayloadNATOADraft PayloadType = 131
)

var payloadNames = map[PayloadType]string{
	PayloadNone: "NONE", PayloadSA: "SA", PayloadProposal: "P", PayloadTransform: "T",
	PayloadKE: "KE", PayloadID: "ID", PayloadCert: "CERT", PayloadCR: "CR", PayloadHash: "HASH",
	PayloadSig: "SIG", PayloadNonce: "NONCE", PayloadNotify: "N", PayloadDelete: "D",
	PayloadVendorID: "VID", PayloadNATD: "NAT-D", PayloadNATOA: "NAT-OA",
	PayloadNATDDraft: "NAT-D(draft)", PayloadNATOADraft: "NAT-OA(draft)",
}

func (t PayloadType) String() string {
	if s, ok := payloadNames[t]; ok {
		return s
	}
	return fmt.Sprintf("payload(%d)", uint8(t))
}

// ExchangeType is the ISAKMP exchange type. Ref: RFC 2408 §3.1 and §4;
// RFC 2409 §5.5 (Quick Mode 32).
type ExchangeType uint8

// Exchange types.
const (
	ExchangeMain          ExchangeType = 2 // Identity Protection = IKE Main Mode
	ExchangeAggressive    ExchangeType = 4
	ExchangeInformational ExchangeType = 5
	ExchangeQuick         ExchangeType = 32
)

func (e ExchangeType) String() string {
	switch e {
	case ExchangeMain:
		return "Main Mode"
	case ExchangeAggressive:
		return "Aggressive Mode"
	case ExchangeInformational:
		return "Informational"
	case ExchangeQuick:
		return "Quick Mode"
	}
	return fmt.Sprintf("exchange(%d)", uint8(e))
}

// Header flags. Ref: RFC 2408 §3.1.
const (
	FlagEncryption uint8 = 0x01
	FlagCommit     uint8 = 0x02
	FlagAuthOnly   uint8 = 0x04
)

// Version is ISAKMP major 1, minor 0. Ref: RFC 2408 §3.1.
const Version uint8 = 0x10

// Domain of Interpretation and situation. Ref: RFC 2407 §4.2, §4.6.1.
const (
	DOIIPsec        uint32 = 1
	SitIdentityOnly uint32 = 1
)

// Protocol IDs. Ref: RFC 2407 §4.4.1.
const (
	ProtoISAKMP   uint8 = 1
	ProtoIPsecAH  uint8 = 2
	ProtoIPsecESP uint8 = 3
)

// Transform ID of every phase-1 transform. Ref: RFC 2407 §4.4.2.
const TransformKeyIKE uint8 = 1

// ID types. Ref: RFC 2407 §4.6.2.1.
const (
	IDIPv4Addr       uint8 = 1
	IDFQDN           uint8 = 2
	IDUserFQDN       uint8 = 3
	IDIPv4AddrSubnet uint8 = 4
	IDIPv6Addr       uint8 = 5
	IDIPv6AddrSubnet uint8 = 6
	IDIPv4AddrRange  uint8 = 7
	IDIPv6AddrRange  uint8 = 8
	IDDERASN1DN      uint8 = 9
	IDDERASN1GN      uint8 = 10
	IDKeyID          uint8 = 11
)

// Phase-1 (IKE SA) attribute types. Ref: RFC 2409 Appendix A.
const (
	AttrEncryption   uint16 = 1
	AttrHash         uint16 = 2
	AttrAuthMethod   uint16 = 3
	AttrGroup        uint16 = 4
	AttrLifeType     uint16 = 11
	AttrLifeDuration uint16 = 12
	AttrKeyLength    uint16 = 14
)

// Phase-1 attribute values. Ref: RFC 2409 Appendix A; RFC 4754 §5 (ECDSA
// authentication methods 9 and 10).
const (
	AuthPreSharedKey uint16 = 1
	AuthRSASig       uint16 = 3
	AuthECDSA256     uint16 = 9
	AuthECDSA384     uint16 = 10
	LifeTypeSeconds  uint16 = 1
	LifeTypeKB       uint16 = 2
)

// CertX509Sig is the certificate encoding "X.509 Certificate - Signature"
// of CERT and CR payloads. Ref: RFC 2408 §3.9.
const CertX509Sig uint8 = 4

// Phase-2 (IPsec SA) attribute types. Ref: RFC 2407 §4.5.
const (
	AttrSALifeType     uint16 = 1
	AttrSALifeDuration uint16 = 2
	AttrSAGroup        uint16 = 3
	AttrEncapMode      uint16 = 4
	AttrAuthAlg        uint16 = 5
	AttrSAKeyLength    uint16 = 6
)

// Encapsulation modes. Ref: RFC 2407 §4.5; RFC 3947 §5.1 (3, 4);
// draft-ietf-ipsec-nat-t-ike-02..08 (61443, 61444).
const (
	EncapTunnel             uint16 = 1
	EncapTransport          uint16 = 2
	EncapUDPTunnel          uint16 = 3
	EncapUDPTransport       uint16 = 4
	EncapUDPTunnelDraft     uint16 = 61443
	EncapUDPTransportDraft  uint16 = 61444
	L2TPPort                uint16 = 1701 // Ref: RFC 2661 §8.1; RFC 3193 §4 (IDci/IDcr udp/1701)
	ipProtoUDP              uint8  = 17
	defaultNATTPort         uint16 = 4500 // Ref: RFC 3947 §4
	ikePort                 uint16 = 500  // Ref: RFC 2408 §2.5.2
	minNonceLen                    = 8    // Ref: RFC 2409 §5
	maxNonceLen                    = 256  // Ref: RFC 2409 §5
	headerLen                      = 28
	genericPayloadHeaderLen        = 4
	maxPayloadBody                 = 0xffff - genericPayloadHeaderLen // Payload Length is 16 bits
)

// NotifyType is a Notify Message Type. Ref: RFC 2408 §3.14.1 (errors 1-30,
// CONNECTED 16384); RFC 2407 §4.6.3 (24576-24578); RFC 3706 §5 (DPD).
type NotifyType uint16

// Notify message types.
const (
	NotifyInvalidPayloadType      NotifyType = 1
	NotifyDOINotSupported         NotifyType = 2
	NotifySituationNotSupported   NotifyType = 3
	NotifyInvalidCookie           NotifyType = 4
	NotifyInvalidMajorVersion     NotifyType = 5
	NotifyInvalidMinorVersion     NotifyType = 6
	NotifyInvalidExchangeType     NotifyType = 7
	NotifyInvalidFlags            NotifyType = 8
	NotifyInvalidMessageID        NotifyType = 9
	NotifyInvalidProtocolID       NotifyType = 10
	NotifyInvalidSPI              NotifyType = 11
	NotifyInvalidTransformID      NotifyType = 12
	NotifyAttributesNotSupported  NotifyType = 13
	NotifyNoProposalChosen        NotifyType = 14
	NotifyBadProposalSyntax       NotifyType = 15
	NotifyPayloadMalformed        NotifyType = 16
	NotifyInvalidKeyInformation   NotifyType = 17
	NotifyInvalidIDInformation    NotifyType = 18
	NotifyInvalidCertEncoding     NotifyType = 19
	NotifyInvalidCertificate      NotifyType = 20
	NotifyCertTypeUnsupported     NotifyType = 21
	NotifyInvalidCertAuthority    NotifyType = 22
	NotifyInvalidHashInformation  NotifyType = 23
	NotifyAuthenticationFailed    NotifyType = 24
	NotifyInvalidSignature        NotifyType = 25
	NotifyAddressNotification     NotifyType = 26
	NotifySALifetime              NotifyType = 27
	NotifyCertificateUnavailable  NotifyType = 28
	NotifyUnsupportedExchangeType NotifyType = 29
	NotifyUnequalPayloadLengths   NotifyType = 30
	NotifyConnected               NotifyType = 16384
	NotifyResponderLifetime       NotifyType = 24576
	NotifyReplayStatus            NotifyType = 24577
	NotifyInitialContact          NotifyType = 24578
	NotifyRUThere                 NotifyType = 36136
	NotifyRUThereAck              NotifyType = 36137
)

var notifyNames = map[NotifyType]string{
	1: "INVALID-PAYLOAD-TYPE", 2: "DOI-NOT-SUPPORTED", 3: "SITUATION-NOT-SUPPORTED",
	4: "INVALID-COOKIE", 5: "INVALID-MAJOR-VERSION", 6: "INVALID-MINOR-VERSION",
	7: "INVALID-EXCHANGE-TYPE", 8: "INVALID-FLAGS", 9: "INVALID-MESSAGE-ID",
	10: "INVALID-PROTOCOL-ID", 11: "INVALID-SPI", 12: "INVALID-TRANSFORM-ID",
	13: "ATTRIBUTES-NOT-SUPPORTED", 14: "NO-PROPOSAL-CHOSEN", 15: "BAD-PROPOSAL-SYNTAX",
	16: "PAYLOAD-MALFORMED", 17: "INVALID-KEY-INFORMATION", 18: "INVALID-ID-INFORMATION",
	19: "INVALID-CERT-ENCODING", 20: "INVALID-CERTIFICATE", 21: "CERT-TYPE-UNSUPPORTED",
	22: "INVALID-CERT-AUTHORITY", 23: "INVALID-HASH-INFORMATION", 24: "AUTHENTICATION-FAILED",
	25: "INVALID-SIGNATURE", 26: "ADDRESS-NOTIFICATION", 27: "NOTIFY-SA-LIFETIME",
	28: "CERTIFICATE-UNAVAILABLE", 29: "UNSUPPORTED-EXCHANGE-TYPE", 30: "UNEQUAL-PAYLOAD-LENGTHS",
	16384: "CONNECTED", 24576: "RESPONDER-LIFETIME", 24577: "REPLAY-STATUS",
	24578: "INITIAL-CONTACT", 36136: "R-U-THERE", 36137: "R-U-THERE-ACK",
}

func (n NotifyType) String() string {
	if s, ok := notifyNames[n]; ok {
		return s
	}
	return fmt.Sprintf("NOTIFY-%d", uint16(n))
}

// IsError reports whether n is an error type (1-16383). Ref: RFC 2408 §3.14.1.
func (n NotifyType) IsError() bool { return n >= 1 && n < 16384 }

// Vendor IDs. Ref: RFC 3947 §3.1 (MD5("RFC 3947")); the draft IDs are MD5 of
// the draft names as listed in strongSwan/Libreswan vendor tables (verified
// with python hashlib.md5); RFC 3706 §7 (DPD: 14 fixed bytes + major 1 minor 0).
var (
	VIDRFC3947    = []byte{0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f}
	VIDDraft02    = []byte{0xcd, 0x60, 0x46, 0x43, 0x35, 0xdf, 0x21, 0xf8, 0x7c, 0xfd, 0xb2, 0xfc, 0x68, 0xb6, 0xa4, 0x48}
	VIDDraft02NL  = []byte{0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f}
	VIDDraft03    = []byte{0x7d, 0x94, 0x19, 0xa6, 0x53, 0x10, 0xca, 0x6f, 0x2c, 0x17, 0x9d, 0x92, 0x15, 0x52, 0x9d, 0x56}
	VIDDraft00    = []byte{0x44, 0x85, 0x15, 0x2d, 0x18, 0xb6, 0xbb, 0xcd, 0x0b, 0xe8, 0xa8, 0x46, 0x95, 0x79, 0xdd, 0xcc}
	VIDDPD        = []byte{0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00}
	draftNATTVIDs = [][]byte{VIDDraft02, VIDDraft02NL, VIDDraft03, VIDDraft00}
)

// RekeyGrace is how long an old IPsec SA pair is kept after a re-key (then
// deleted): its inbound half keeps decrypting what the peer sent before it
// switched. The tunnel keeps the inbound SAs of a replaced IKE SA as long.
// An implementation choice, not from an RFC.
const RekeyGrace = 10 * time.Second

// Implementation tunables (not from an RFC).
const (
	defaultSALifetime   = time.Hour
	defaultIKELifetime  = 8 * time.Hour
	defaultRetxBase     = time.Second
	maxRetxWait         = 8 * time.Second
	defaultMaxRetx      = 5
	nonceLen            = 32                     // ours; minNonceLen..maxNonceLen
	rekeyFraction       = 0.85                   // replace an SA (re-key, re-authenticate) at 85% of its lifetime ...
	rekeyJitterFraction = 0.05                   // ... minus up to 5% random jitter
	qmKeep              = 60 * time.Second       // finished QM kept to answer duplicates
	dpdInterval         = 10 * time.Second       // responder R-U-THERE interval (SoftEther)
	pskMismatchRepeats  = 2                      // MM4 repeats after MM5 → ErrPSKMismatch
	pskMismatchMM5Retx  = 2                      // … counted once MM5 was sent again this often
	sadeleteWindow      = 5 * time.Second        // the peer's Delete of our newest SA this soon → a new Quick Mode, then ErrSADeleted
	maxQMRedo           = 2                      // new Quick Modes after such early Deletes, per IKE SA, before ErrSADeleted
	aggressiveQMDelay   = 100 * time.Millisecond // first Quick Mode after Aggressive Mode message 3 (strongSwan)
	maxChain            = 64                     // payloads in one chain (message, SA, proposal) we parse
)

var (
	mmStateNames = []string{"idle", "wait-MM2", "wait-MM4", "wait-MM6", "established", "wait-AM2"}
	rStateNames  = []string{"idle", "wait-MM3", "wait-MM5", "established", "wait-AM3"}
	qmStateNames = []string{"wait-reply", "wait-HASH(3)", "done"}
)

func (s mmState) String() string { return enumName(mmStateNames, s, "mm-state") }
func (s rState) String() string  { return enumName(rStateNames, s, "r-state") }
func (s qmState) String() string { return enumName(qmStateNames, s, "qm-state") }

// enumName is names[v], or "prefix(v)" for a value past the table.
func enumName[T ~uint8](names []string, v T, prefix string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", prefix, uint8(v))
}

// EncapIsTunnel reports whether an encapsulation mode is a tunnel mode
// (1, 3 or 61443): ESP then carries an inner IPv4 header. Ref: RFC 4301 §4.1.
func EncapIsTunnel(mode uint16) bool {
	return mode == EncapTunnel || mode == EncapUDPTunnel || mode == EncapUDPTunnelDraft
}

// EncapIsUDP reports whether an encapsulation mode puts ESP in UDP (3, 4,
// 61443, 61444). Ref: RFC 3947 §5.1.
func EncapIsUDP(mode uint16) bool {
	return mode == EncapUDPTunnel || mode == EncapUDPTransport ||
		mode == EncapUDPTunnelDraft || mode == EncapUDPTransportDraft
}

// PlainESP says when the Initiator may use ESP without UDP encapsulation
// (IP protocol 50), which needs a raw socket.
type PlainESP uint8

const (
	// PlainESPNever forces NAT-T: a random NAT-D for our address, so both
	// sides float to the NAT-T port and ESP goes in UDP.
	PlainESPNever PlainESP = iota
	// PlainESPAlways sends our real NAT-D and uses plain ESP; a NAT on the
	// path is ErrPlainESPNAT.
	PlainESPAlways
	// PlainESPIfNoNAT sends our real NAT-D and uses plain ESP when the
	// NAT-D payloads show no NAT, UDP encapsulation otherwise.
	PlainESPIfNoNAT
)
