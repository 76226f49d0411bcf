package ppp

import (
	"bytes"
	"crypto/subtle"
	"strconv"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// EAP over PPP (RFC 3748). An EAP packet has the outer shape of a Packet;
// Requests and Responses start their Data with the Type:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Code      |  Identifier   |            Length             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |  Type-Data ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Success and Failure carry no Data. Ref: RFC 3748 §4.
//
// EAP-MSCHAPv2 Type-Data (draft-kamath-pppext-eap-mschapv2 §2):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    OpCode     | MS-CHAPv2-ID  |           MS-Length           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Value-Size   |  Value ... (Challenge, Response)  |  Name ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// OpCodes are the CHAP codes: 1 Challenge, 2 Response, 3 Success, 4
// Failure. A Success or Failure Request carries the MS-CHAPv2 message
// (RFC 2759 §5, §6) after MS-Length; the peer answers each with a
// Response holding the OpCode alone. MS-Length counts from OpCode to the
// end; servers are known to get it wrong, so it is not checked.

// eapTypeName names an EAP Type for drop reasons and errors.
func eapTypeName(t uint8) string {
	switch t {
	case eapTypeIdentity:
		return "Identity"
	case eapTypeNotify:
		return "Notification"
	case eapTypeNak:
		return "Nak"
	case eapTypeMD5:
		return "MD5-Challenge"
	case eapTypeTLS:
		return "TLS"
	case eapTypeMSCHAPv2:
		return "MSCHAPv2"
	case eapTypeExpanded:
		return "Expanded"
	}
	return "type " + strconv.Itoa(int(t))
}

// eapTypeOf maps an inner method to its EAP Type.
func eapTypeOf(m AuthMethod) uint8 {
	switch m {
	case MSCHAPv2:
		return eapTypeMSCHAPv2
	case CHAPMD5:
		return eapTypeMD5
	}
	return 0
}

// parseEAPMSv2 splits EAP-MSCHAPv2 Type-Data into its header and the rest.
func parseEAPMSv2(d []byte) (op, msID uint8, rest []byte, ok bool) {
	op, d, ok = wire.Uint8(d)
	if !ok {
		return 0, 0, nil, false
	}
	msID, d, ok = wire.Uint8(d)
	if !ok {
		return 0, 0, nil, false
	}
	_, rest, ok = wire.Uint16(d)
	return op, msID, rest, ok
}

// eapMSv2Data builds EAP-MSCHAPv2 Type-Data (Type included) with
// MS-Length set.
func eapMSv2Data(op, msID uint8, body []byte) []byte {
	n := eapMSv2HdrLen + len(body)
	b := make([]byte, 0, 1+n)
	b = append(b, eapTypeMSCHAPv2, op, msID, byte(n>>8), byte(n))
	return append(b, body...)
}

// eapClient is the client's EAP state for one authentication phase.
type eapClient struct {
	lastID   uint8
	lastReq  []byte // Data of the last Request answered
	lastResp []byte // our last Response frame, sent again for a repeated Request
	inner    AuthMethod
	answered bool // an inner method's Response went out
	verified bool // EAP-MSCHAPv2: the server's authenticator response checked
	failure  msv2Failure
	notice   string // the last Notification, for the error
}

// eapInner lists the EAP methods the client does inside EAP, in the order
// it proposes them in a Nak: EAP-MSCHAPv2 (mutual authentication), then
// EAP-MD5.
var eapInner = []AuthMethod{MSCHAPv2, CHAPMD5}

// eapRespond sends one EAP Response and remembers it for a repeated
// Request. Ref: RFC 3748 §4.1 (the authenticator retransmits, the peer
// answers each Request, duplicates with the same Response).
func (c *Client) eapRespond(now time.Time, id uint8, data ...[]byte) {
	f, err := appendFrame(nil, ProtoEAP, eapCodeResponse, id, data...)
	if err != nil {
		c.abort(err)
		return
	}
	c.eap.lastID, c.eap.lastResp = id, f
	c.emit(Send{Data: clone(f)})
	c.authWait(now)
}

func (c *Client) eapInput(now time.Time, p Packet) {
	switch p.Code {
	case eapCodeRequest:
		if len(p.Data) < 1 {
			c.drop("EAP Request without a Type")
			return
		}
		// A retransmitted Request has the Identifier of the last one (RFC
		// 3748 §4.1); SoftEther also reuses the Identifier for its next
		// Request, so the Data must be the same too.
		if c.eap.lastResp != nil && p.ID == c.eap.lastID && bytes.Equal(p.Data, c.eap.lastReq) {
			c.emit(Send{Data: clone(c.eap.lastResp)})
			c.authWait(now)
			return
		}
		c.eap.lastReq = clone(p.Data)
		typ, td := p.Data[0], p.Data[1:]
		switch typ {
		case eapTypeIdentity:
			c.eapRespond(now, p.ID, []byte{eapTypeIdentity}, []byte(c.cfg.User))
		case eapTypeNotify:
			c.eap.notice = sanitize(string(trimNUL(td)))
			c.eapRespond(now, p.ID, []byte{eapTypeNotify})
		case eapTypeMD5:
			value, _, ok := parseCHAPValue(td)
			if !ok || len(value) == 0 {
				c.drop("malformed EAP MD5-Challenge")
				return
			}
			r := chapMD5Response(p.ID, c.cfg.Password, value)
			c.eap.inner, c.eap.answered = CHAPMD5, true
			c.eapRespond(now, p.ID, []byte{eapTypeMD5}, chapValueData(r[:], c.cfg.User))
		case eapTypeMSCHAPv2:
			c.eapMSCHAPv2(now, p.ID, td)
		case eapTypeNak:
			c.drop("EAP Nak in a Request")
		default:
			// Ref: RFC 3748 §5.3.1: a Legacy Nak lists the types we want.
			nak := []byte{eapTypeNak}
			for _, m := range eapInner {
				nak = append(nak, eapTypeOf(m))
			}
			c.eapRespond(now, p.ID, nak)
			c.drop("EAP Request of %s, which we do not do: Nak sent", eapTypeName(typ))
		}
	case eapCodeSuccess:
		if c.eap.inner == MSCHAPv2 && !c.eap.verified {
			c.abort(ErrServerNotAuthentic) // EAP-MSCHAPv2 proves the server too
			return
		}
		c.authSucceeded(now, EAP)
	case eapCodeFailure:
		msg := c.eap.failure.Message
		if msg == "" {
			msg = c.eap.notice
		}
		switch c.eap.inner {
		case MSCHAPv2:
			msg = strings.TrimSpace("EAP-MSCHAPv2 " + msg)
		case CHAPMD5:
			msg = strings.TrimSpace("EAP-MD5 " + msg)
		}
		c.abort(&AuthError{Method: EAP, User: c.cfg.User, Message: msg, Code: c.eap.failure.Code})
	default:
		c.drop("%s unexpected", authPacketName(ProtoEAP, p.Code))
	}
}

func (c *Client) eapMSCHAPv2(now time.Time, id uint8, td []byte) {
	op, msID, rest, ok := parseEAPMSv2(td)
	if !ok {
		c.drop("malformed EAP-MSCHAPv2 Request")
		return
	}
	switch op {
	case chapCodeChal:
		value, _, ok := parseCHAPValue(rest)
		if !ok || len(value) != msv2ChalLen {
			c.drop("malformed EAP-MSCHAPv2 Challenge")
			return
		}
		resp, err := c.msv2Response([16]byte(value))
		if err != nil {
			c.abort(err)
			return
		}
		c.eap.inner, c.eap.answered, c.eap.verified = MSCHAPv2, true, false
		c.eapRespond(now, id, eapMSv2Data(chapCodeResp, msID, chapValueData(resp, c.cfg.User)))
	case chapCodeSucc:
		if c.eap.inner != MSCHAPv2 || !c.eap.answered {
			c.drop("EAP-MSCHAPv2 Success before our Response")
			return
		}
		got, _, ok := parseMSCHAPv2Success(rest)
		if !ok || subtle.ConstantTimeCompare(got[:], c.wantAuth[:]) != 1 {
			c.abort(ErrServerNotAuthentic)
			return
		}
		c.eap.verified = true
		c.eapRespond(now, id, []byte{eapTypeMSCHAPv2, chapCodeSucc})
	case chapCodeFail:
		f, _ := parseMSCHAPv2Failure(rest)
		c.eap.failure = msv2Failure{Code: f.Code, Message: strings.TrimSpace(string(trimNUL(rest)))}
		c.eap.inner = MSCHAPv2
		c.eapRespond(now, id, []byte{eapTypeMSCHAPv2, chapCodeFail})
	default:
		c.drop("EAP-MSCHAPv2 OpCode %d unexpected", op)
	}
}
