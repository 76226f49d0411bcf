package l2tp

import (
	"strconv"
	"time"
)

// Protocol constants from RFC 2661. Implementation tunables are at the end of
// this file.

// Header flag bits of the first 16-bit word. Ref: RFC 2661 §3.1.
const (
	flagType     = 0x8000 // T: 1 = control message, 0 = data message
	flagLength   = 0x4000 // L: Length field present (MUST be 1 for control)
	flagSequence = 0x0800 // S: Ns and Nr present (MUST be 1 for control)
	flagOffset   = 0x0200 // O: Offset Size present (MUST be 0 for control)
	flagPriority = 0x0100 // P: priority data message (MUST be 0 for control)
	versionMask  = 0x000f // Ver: MUST be 2 for L2TPv2 (1 = L2F, 3 = L2TPv3)

	// Version is the only protocol version this package speaks. Ref: RFC 2661 §3.1.
	Version = 2

	// controlFlags is what we write for every control message: T, L, S, Ver 2.
	controlFlags = flagType | flagLength | flagSequence | Version
	// dataFlags is what PutDataHeader writes: Ver 2 and no optional fields.
	dataFlags = Version

	// controlHeaderLen is the size of a control header (T, L and S all set).
	controlHeaderLen = 12
)

// MsgType is the value of the Message Type AVP. Ref: RFC 2661 §3.2.
type MsgType uint16

// Control message types. Ref: RFC 2661 §3.2 (values), §6 (contents).
const (
	MsgSCCRQ   MsgType = 1  // Start-Control-Connection-Request, §6.1
	MsgSCCRP   MsgType = 2  // Start-Control-Connection-Reply, §6.2
	MsgSCCCN   MsgType = 3  // Start-Control-Connection-Connected, §6.3
	MsgStopCCN MsgType = 4  // Stop-Control-Connection-Notification, §6.4
	MsgHello   MsgType = 6  // Hello, §6.5
	MsgOCRQ    MsgType = 7  // Outgoing-Call-Request, §6.9
	MsgOCRP    MsgType = 8  // Outgoing-Call-Reply, §6.10
	MsgOCCN    MsgType = 9  // Outgoing-Call-Connected, §6.11
	MsgICRQ    MsgType = 10 // Incoming-Call-Request, §6.6
	MsgICRP    MsgType = 11 // Incoming-Call-Reply, §6.7
	MsgICCN    MsgType = 12 // Incoming-Call-Connected, §6.8
	MsgCDN     MsgType = 14 // Call-Disconnect-Notify, §6.12
	MsgWEN     MsgType = 15 // WAN-Error-Notify, §6.13
	MsgSLI     MsgType = 16 // Set-Link-Info, §6.14
)

var msgNames = [...]string{
	MsgSCCRQ: "SCCRQ", MsgSCCRP: "SCCRP", MsgSCCCN: "SCCCN", MsgStopCCN: "StopCCN",
	MsgHello: "HELLO", MsgOCRQ: "OCRQ", MsgOCRP: "OCRP", MsgOCCN: "OCCN",
	MsgICRQ: "ICRQ", MsgICRP: "ICRP", MsgICCN: "ICCN", MsgCDN: "CDN",
	MsgWEN: "WEN", MsgSLI: "SLI",
}

// Known reports whether t is a message type defined by RFC 2661 §3.2.
func (t MsgType) Known() bool { return int(t) < len(msgNames) && msgNames[t] != "" }

// Session reports whether t is a call (session) message rather than a
// control-connection (tunnel) message. Ref: RFC 2661 §3.2.
func (t MsgType) Session() bool {
	switch t {
	case MsgOCRQ, MsgOCRP, MsgOCCN, MsgICRQ, MsgICRP, MsgICCN, MsgCDN, MsgWEN, MsgSLI:
		return true
	}
	return false
}

func (t MsgType) String() string {
	if t.Known() {
		return msgNames[t]
	}
	return "MsgType(" + strconv.Itoa(int(t)) + ")"
}

// AVPType is the Attribute Type of an IETF (vendor 0) AVP. Ref: RFC 2661 §4.4.
type AVPType uint16

// IETF attribute types. Ref: RFC 2661 §4.4.1–§4.4.6.
const (
	AVPMessageType           AVPType = 0  // §4.4.1, uint16
	AVPResultCode            AVPType = 1  // §4.4.2, uint16 result [uint16 error [message]]
	AVPProtocolVersion       AVPType = 2  // §4.4.3, uint8 ver, uint8 rev
	AVPFramingCapabilities   AVPType = 3  // §4.4.3, uint32 bits
	AVPBearerCapabilities    AVPType = 4  // §4.4.3, uint32 bits
	AVPTieBreaker            AVPType = 5  // §4.4.3, 8 octets
	AVPFirmwareRevision      AVPType = 6  // §4.4.3, uint16
	AVPHostName              AVPType = 7  // §4.4.3, string
	AVPVendorName            AVPType = 8  // §4.4.3, string
	AVPAssignedTunnelID      AVPType = 9  // §4.4.3, uint16
	AVPReceiveWindowSize     AVPType = 10 // §4.4.3, uint16
	AVPChallenge             AVPType = 11 // §4.4.3, octets
	AVPQ931CauseCode         AVPType = 12 // §4.4.4
	AVPChallengeResponse     AVPType = 13 // §4.4.3, 16 octets
	AVPAssignedSessionID     AVPType = 14 // §4.4.4, uint16
	AVPCallSerialNumber      AVPType = 15 // §4.4.4, uint32
	AVPMinimumBPS            AVPType = 16 // §4.4.4, uint32
	AVPMaximumBPS            AVPType = 17 // §4.4.4, uint32
	AVPBearerType            AVPType = 18 // §4.4.4, uint32 bits
	AVPFramingType           AVPType = 19 // §4.4.4, uint32 bits
	AVPCalledNumber          AVPType = 21 // §4.4.4, string
	AVPCallingNumber         AVPType = 22 // §4.4.4, string
	AVPSubAddress            AVPType = 23 // §4.4.4, string
	AVPTxConnectSpeed        AVPType = 24 // §4.4.4, uint32 bps
	AVPPhysicalChannelID     AVPType = 25 // §4.4.4, uint32
	AVPInitialRecvLCPConfReq AVPType = 26 // §4.4.5
	AVPLastSentLCPConfReq    AVPType = 27 // §4.4.5
	AVPLastRecvLCPConfReq    AVPType = 28 // §4.4.5
	AVPProxyAuthenType       AVPType = 29 // §4.4.5
	AVPProxyAuthenName       AVPType = 30 // §4.4.5
	AVPProxyAuthenChallenge  AVPType = 31 // §4.4.5
	AVPProxyAuthenID         AVPType = 32 // §4.4.5
	AVPProxyAuthenResponse   AVPType = 33 // §4.4.5
	AVPCallErrors            AVPType = 34 // §4.4.6
	AVPACCM                  AVPType = 35 // §4.4.6
	AVPRandomVector          AVPType = 36 // §4.4.1, octets
	AVPPrivateGroupID        AVPType = 37 // §4.4.4
	AVPRxConnectSpeed        AVPType = 38 // §4.4.4, uint32 bps
	AVPSequencingRequired    AVPType = 39 // §4.4.4, empty

	// Type 20 is reserved in RFC 2661 (Packet Processing Delay in its
	// drafts, still known to xl2tpd); it is tolerated like the others.
)

// knownAVP reports whether t is an attribute type RFC 2661 defines (or
// reserves). We act on few of them; the rest are accepted and ignored.
func knownAVP(t AVPType) bool { return t <= AVPSequencingRequired }

// Protocol Version AVP value: version 1, revision 0. Ref: RFC 2661 §4.4.3.
const protocolVersion = 0x0100

// Framing and bearer bits, used by Framing/Bearer Capabilities and Framing/
// Bearer Type AVPs. Ref: RFC 2661 §4.4.3, §4.4.4.
const (
	FramingSync   uint32 = 1 // synchronous (HDLC-like) framing
	FramingAsync  uint32 = 2 // asynchronous framing
	BearerDigital uint32 = 1
	BearerAnalog  uint32 = 2
)

// Result Code values of a StopCCN. Ref: RFC 2661 §4.4.2.
const (
	StopResultClear        uint16 = 1 // General request to clear control connection
	StopResultError        uint16 = 2 // General error, Error Code indicates the problem
	StopResultExists       uint16 = 3 // Control channel already exists
	StopResultUnauthorized uint16 = 4 // Requester is not authorized to establish a control channel
	StopResultVersion      uint16 = 5 // The protocol version of the requester is not supported
	StopResultShutdown     uint16 = 6 // Requester is being shut down
	StopResultFSM          uint16 = 7 // Finite State Machine error
)

var stopResultText = [...]string{
	StopResultClear:        "general request to clear control connection",
	StopResultError:        "general error",
	StopResultExists:       "control channel already exists",
	StopResultUnauthorized: "requester is not authorized to establish a control channel",
	StopResultVersion:      "protocol version not supported",
	StopResultShutdown:     "requester is being shut down",
	StopResultFSM:          "finite state machine error",
}

// Result Code values of a CDN. Ref: RFC 2661 §4.4.2.
const (
	CDNResultLostCarrier  uint16 = 1  // Call disconnected due to loss of carrier
	CDNResultError        uint16 = 2  // Call disconnected for the reasons indicated in error code
	CDNResultAdmin        uint16 = 3  // Call disconnected for administrative reasons
	CDNResultNoFacilities uint16 = 4  // lack of appropriate facilities (temporary)
	CDNResultNoFacPerm    uint16 = 5  // lack of appropriate facilities (permanent)
	CDNResultInvalidDest  uint16 = 6  // Invalid destination
	CDNResultNoCarrier    uint16 = 7  // Call failed due to no carrier detected
	CDNResultBusy         uint16 = 8  // Call failed due to detection of a busy signal
	CDNResultNoDialTone   uint16 = 9  // Call failed due to lack of a dial tone
	CDNResultTimeout      uint16 = 10 // Call was not established within time allotted by LAC
	CDNResultNoFraming    uint16 = 11 // Call was connected but no appropriate framing was detected
)

var cdnResultText = [...]string{
	CDNResultLostCarrier:  "loss of carrier",
	CDNResultError:        "general error",
	CDNResultAdmin:        "administrative reasons",
	CDNResultNoFacilities: "no appropriate facilities (temporary)",
	CDNResultNoFacPerm:    "no appropriate facilities (permanent)",
	CDNResultInvalidDest:  "invalid destination",
	CDNResultNoCarrier:    "no carrier detected",
	CDNResultBusy:         "busy signal",
	CDNResultNoDialTone:   "no dial tone",
	CDNResultTimeout:      "call not established in time",
	CDNResultNoFraming:    "no appropriate framing detected",
}

// General Error Codes, carried after the Result Code. Ref: RFC 2661 §4.4.2.
const (
	ErrorCodeNone             uint16 = 0 // No general error
	ErrorCodeNoControl        uint16 = 1 // No control connection exists yet for this LAC-LNS pair
	ErrorCodeLength           uint16 = 2 // Length is wrong
	ErrorCodeValue            uint16 = 3 // A field value was out of range or a reserved field was non-zero
	ErrorCodeResources        uint16 = 4 // Insufficient resources to handle this operation now
	ErrorCodeSessionID        uint16 = 5 // The Session ID is invalid in this context
	ErrorCodeVendor           uint16 = 6 // A generic vendor-specific error occurred in the LAC
	ErrorCodeTryAnother       uint16 = 7 // Try another LNS
	ErrorCodeUnknownMandatory uint16 = 8 // Shut down due to receipt of an unknown AVP with the M bit set (§4.2)
)

var errorCodeText = [...]string{
	ErrorCodeNone:             "no general error",
	ErrorCodeNoControl:        "no control connection exists yet",
	ErrorCodeLength:           "length is wrong",
	ErrorCodeValue:            "field value out of range",
	ErrorCodeResources:        "insufficient resources",
	ErrorCodeSessionID:        "invalid session ID",
	ErrorCodeVendor:           "vendor-specific error",
	ErrorCodeTryAnother:       "try another",
	ErrorCodeUnknownMandatory: "unknown mandatory AVP",
}

// defaultPeerWindow is the Receive Window Size to assume when the peer sends
// none. Ref: RFC 2661 §4.4.3 (Receive Window Size), §5.8.
const defaultPeerWindow = 4

// Implementation tunables (not from the RFC unless stated).
const (
	// DataHeaderLen is the size of the data header PutDataHeader writes:
	// flags/version, Tunnel ID, Session ID (no Length, Ns/Nr or Offset).
	DataHeaderLen = 6

	defaultHostName   = "l2tpctl"
	defaultVendorName = "l2tpctl"
	defaultRecvWindow = 8
	defaultHello      = 60 * time.Second
	// defaultRetransmitBase, maxRetransmitTimeout and defaultMaxRetransmits
	// follow the recommendations of RFC 2661 §5.8 (1 s, doubling, cap of at
	// least 8 s, 5 retransmissions).
	defaultRetransmitBase = time.Second
	maxRetransmitTimeout  = 8 * time.Second
	defaultMaxRetransmits = 5

	// txConnectSpeed is what we report in ICCN; xl2tpd reports the same 10 Mbit/s.
	txConnectSpeed = 10000000
	// randomIDTries bounds the draws for a non-zero random ID.
	randomIDTries = 16
)
