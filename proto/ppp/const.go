package ppp

import "time"

// PPP protocol field values.
// Ref: RFC 1661 §2 (field), IANA "PPP DLL Protocol Numbers".
const (
	ProtoIPv4   = 0x0021 // Ref: RFC 1332 §2
	ProtoIPv6   = 0x0057 // Ref: RFC 5072 §2
	ProtoIPCP   = 0x8021 // Ref: RFC 1332 §2
	ProtoIPV6CP = 0x8057 // Ref: RFC 5072 §3
	ProtoCCP    = 0x80fd // Ref: RFC 1962 §2
	ProtoLCP    = 0xc021 // Ref: RFC 1661 §5
	ProtoPAP    = 0xc023 // Ref: RFC 1334 §2
	ProtoCHAP   = 0xc223 // Ref: RFC 1994 §3
	ProtoEAP    = 0xc227 // Ref: RFC 3748 §3
)

// HeaderLen is the length of the uncompressed frame header: Address FF,
// Control 03 and a 2-byte protocol. Ref: RFC 1662 §3.1, RFC 1661 §2.
const HeaderLen = 4

// Address and Control field values. Ref: RFC 1662 §3.1.
const (
	addrAllStations = 0xff
	ctrlUI          = 0x03
)

// Control packet codes shared by LCP and the NCPs. Ref: RFC 1661 §5.
const (
	codeConfReq   = 1  // Ref: RFC 1661 §5.1
	codeConfAck   = 2  // Ref: RFC 1661 §5.2
	codeConfNak   = 3  // Ref: RFC 1661 §5.3
	codeConfRej   = 4  // Ref: RFC 1661 §5.4
	codeTermReq   = 5  // Ref: RFC 1661 §5.5
	codeTermAck   = 6  // Ref: RFC 1661 §5.5
	codeCodeRej   = 7  // Ref: RFC 1661 §5.6
	codeProtoRej  = 8  // Ref: RFC 1661 §5.7 (LCP only)
	codeEchoReq   = 9  // Ref: RFC 1661 §5.8 (LCP only)
	codeEchoRep   = 10 // Ref: RFC 1661 §5.8 (LCP only)
	codeDiscard   = 11 // Ref: RFC 1661 §5.9 (LCP only)
	packetHdrLen  = 4  // Code, Identifier, Length. Ref: RFC 1661 §5
	optionHdrLen  = 2  // Type, Length. Ref: RFC 1661 §6
	defaultMRU    = 1500
	minPacketMRU  = 128 // smallest MRU we accept in a Nak of ours
	maxPacketMRU  = 16384
	minPeerMRU    = 68 // smallest peer MRU we Ack (IPv4 minimum, RFC 791)
	papCodeReq    = 1  // Ref: RFC 1334 §2.2.1
	papCodeAck    = 2  // Ref: RFC 1334 §2.2.2
	papCodeNak    = 3  // Ref: RFC 1334 §2.2.2
	chapCodeChal  = 1  // Ref: RFC 1994 §4.1
	chapCodeResp  = 2  // Ref: RFC 1994 §4.1
	chapCodeSucc  = 3  // Ref: RFC 1994 §4.2
	chapCodeFail  = 4  // Ref: RFC 1994 §4.2
	chapAlgMD5    = 0x05
	chapAlgMSv2   = 0x81 // Ref: RFC 2759 §2
	msv2ChalLen   = 16   // Ref: RFC 2759 §3
	msv2RespLen   = 49   // Ref: RFC 2759 §4
	md5ChalLen    = 16
	md5RespLen    = 16
	authRespLen   = 42 // "S=" + 40 hex digits. Ref: RFC 2759 §5
	maxNameLength = 255
)

// EAP codes and types. Ref: RFC 3748 §4, §5; EAP-MSCHAPv2:
// draft-kamath-pppext-eap-mschapv2-02 §2.
const (
	eapCodeRequest  = 1  // Ref: RFC 3748 §4.1
	eapCodeResponse = 2  // Ref: RFC 3748 §4.1
	eapCodeSuccess  = 3  // Ref: RFC 3748 §4.2
	eapCodeFailure  = 4  // Ref: RFC 3748 §4.2
	eapTypeIdentity = 1  // Ref: RFC 3748 §5.1
	eapTypeNotify   = 2  // Notification. Ref: RFC 3748 §5.2
	eapTypeNak      = 3  // Legacy Nak (Response only). Ref: RFC 3748 §5.3.1
	eapTypeMD5      = 4  // MD5-Challenge. Ref: RFC 3748 §5.4
	eapTypeTLS      = 13 // Ref: RFC 5216 §3.1 (the test server's SoftEther model only)
	eapTLSStart     = 0x20
	eapTypeMSCHAPv2 = 26 // Ref: draft-kamath-pppext-eap-mschapv2 §2
	eapTypeExpanded = 254
	eapMSv2HdrLen   = 4 // OpCode, MS-CHAPv2-ID, MS-Length (2)
)

// Length limits of packets and options.
const (
	maxPacketLen  = 0xffff             // the 16-bit Length field. Ref: RFC 1661 §5
	maxOptionData = 255 - optionHdrLen // the Length octet counts Type and Length. Ref: RFC 1661 §6
)

// LCP configuration option types. Ref: RFC 1661 §6, RFC 1570.
const (
	lcpOptMRU   = 1 // Ref: RFC 1661 §6.1
	lcpOptACCM  = 2 // Ref: RFC 1662 §7.1
	lcpOptAuth  = 3 // Ref: RFC 1661 §6.2
	lcpOptQual  = 4 // Ref: RFC 1661 §6.3
	lcpOptMagic = 5 // Ref: RFC 1661 §6.4
	lcpOptPFC   = 7 // Ref: RFC 1661 §6.5
	lcpOptACFC  = 8 // Ref: RFC 1661 §6.6
)

// IPCP configuration option types. Ref: RFC 1332 §3, RFC 1877 §1.
const (
	ipcpOptAddrs = 1   // IP-Addresses (deprecated). Ref: RFC 1332 §3.1
	ipcpOptComp  = 2   // IP-Compression-Protocol. Ref: RFC 1332 §3.2
	ipcpOptAddr  = 3   // IP-Address. Ref: RFC 1332 §3.3
	ipcpOptDNS1  = 129 // Primary DNS Server Address. Ref: RFC 1877 §1.1
	ipcpOptNBNS1 = 130 // Ref: RFC 1877 §1.2
	ipcpOptDNS2  = 131 // Secondary DNS Server Address. Ref: RFC 1877 §1.3
	ipcpOptNBNS2 = 132 // Ref: RFC 1877 §1.4
)

// IPv6CP configuration option types. Ref: RFC 5072 §4.
const (
	ipv6cpOptIID  = 1 // Interface-Identifier. Ref: RFC 5072 §4.1
	ipv6cpOptComp = 2 // IPv6-Compression-Protocol. Ref: RFC 5072 §4.2
)

// Implementation tunables (not from a specification).
const (
	defaultClientMRU    = 1400
	defaultRestart      = 3 * time.Second // Ref: RFC 1661 §4.6 (Restart Timer)
	firstRestart        = 1 * time.Second // first retransmission; then doubles up to RestartTimer
	defaultMaxConfigure = 10              // Ref: RFC 1661 §4.6 (Max-Configure)
	defaultMaxTerminate = 2               // Ref: RFC 1661 §4.6 (Max-Terminate)
	defaultMaxFailure   = 5               // Ref: RFC 1661 §4.6 (Max-Failure)
	defaultEcho         = 10 * time.Second
	defaultEchoFailures = 5
	maxInsist           = 3 // ServerConfig.Insist: repeated requests of a refused method
)
