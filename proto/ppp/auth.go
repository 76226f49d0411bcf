package ppp

import "fmt"

// AuthMethod is a PPP authentication protocol (with CHAP algorithm).
type AuthMethod uint8

// Authentication methods. Ref: RFC 1334 (PAP), RFC 1994 (CHAP-MD5),
// RFC 2759 (MS-CHAPv2), RFC 3748 (EAP).
const (
	AuthNone AuthMethod = iota // no authentication was requested by the peer
	PAP                        // Auth-Protocol c023
	CHAPMD5                    // Auth-Protocol c223, algorithm 05
	MSCHAPv2                   // Auth-Protocol c223, algorithm 81
	EAP                        // Auth-Protocol c227
	numAuthMethods
)

var authNames = [numAuthMethods]string{"none", "pap", "chap", "mschapv2", "eap"}

func (m AuthMethod) String() string {
	if m < numAuthMethods {
		return authNames[m]
	}
	return fmt.Sprintf("auth(%d)", uint8(m))
}

// ParseAuthMethod parses "pap", "chap", "mschapv2" or "eap" (as printed
// by String; also "ms-chap-v2", "mschap-v2", and "chap-md5" for chap).
func ParseAuthMethod(s string) (AuthMethod, error) {
	switch s {
	case "pap", "PAP":
		return PAP, nil
	case "mschapv2", "ms-chap-v2", "mschap-v2", "MSCHAPv2", "MS-CHAPv2", "MS-CHAP-V2":
		return MSCHAPv2, nil
	case "chap-md5", "chap", "CHAP", "CHAP-MD5", "md5":
		return CHAPMD5, nil
	case "eap", "EAP":
		return EAP, nil
	}
	return 0, fmt.Errorf("ppp: unknown authentication method %q (want pap, chap, mschapv2 or eap)", s)
}

// authOption encodes m as the Data of an LCP Authentication-Protocol
// option. Ref: RFC 1661 §6.2, RFC 1994 §3, RFC 2759 §2.
func authOption(m AuthMethod) Option {
	switch m {
	case PAP:
		return Option{Type: lcpOptAuth, Data: []byte{0xc0, 0x23}}
	case CHAPMD5:
		return Option{Type: lcpOptAuth, Data: []byte{0xc2, 0x23, chapAlgMD5}}
	case MSCHAPv2:
		return Option{Type: lcpOptAuth, Data: []byte{0xc2, 0x23, chapAlgMSv2}}
	case EAP:
		return Option{Type: lcpOptAuth, Data: []byte{0xc2, 0x27}}
	}
	return Option{}
}

// parseAuthOption decodes the Data of an Authentication-Protocol option.
// ok is false for protocols or algorithms we do not know.
func parseAuthOption(d []byte) (AuthMethod, bool) {
	if len(d) < 2 {
		return 0, false
	}
	switch uint16(d[0])<<8 | uint16(d[1]) {
	case ProtoPAP:
		return PAP, len(d) == 2
	case ProtoEAP:
		return EAP, len(d) == 2
	case ProtoCHAP:
		if len(d) != 3 {
			return 0, false
		}
		switch d[2] {
		case chapAlgMD5:
			return CHAPMD5, true
		case chapAlgMSv2:
			return MSCHAPv2, true
		}
	}
	return 0, false
}

// authPacketName names a PAP, CHAP or EAP packet for drop reasons, such as
// "PAP Authenticate-Ack" or "CHAP Success". Ref: RFC 1334 §2.2, RFC 1994 §4,
// RFC 3748 §4.
func authPacketName(proto uint16, code uint8) string {
	var names []string
	switch proto {
	case ProtoPAP:
		names = []string{papCodeReq: "Authenticate-Request", papCodeAck: "Authenticate-Ack", papCodeNak: "Authenticate-Nak"}
	case ProtoEAP:
		names = []string{eapCodeRequest: "Request", eapCodeResponse: "Response", eapCodeSuccess: "Success", eapCodeFailure: "Failure"}
	default:
		names = []string{chapCodeChal: "Challenge", chapCodeResp: "Response", chapCodeSucc: "Success", chapCodeFail: "Failure"}
	}
	if int(code) < len(names) && names[code] != "" {
		return protoName(proto) + " " + names[code]
	}
	return fmt.Sprintf("%s code %d", protoName(proto), code)
}

func containsMethod(ms []AuthMethod, m AuthMethod) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}
