package l2tp

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestBuildersEncode checks the policy of the message builders: what they
// build always encodes (they return no error), with the unchecked encoder
// the state machines use giving the same bytes as AppendBinary, and parses
// back to the same message, even with the longest strings a configuration
// or an error message can bring.
func TestBuildersEncode(t *testing.T) {
	long := strings.Repeat("x", 3*maxAVPValueLen)
	msgs := map[string]*Message{
		"sccrq":           sccrq("l2tpctl", "l2tpctl", 0x1234, 8),
		"sccrq-long":      sccrq(long, long, 0xffff, 0xffff),
		"sccrp-long":      sccrp(long, long, 1, 1),
		"scccn":           scccn(),
		"stopccn":         stopCCN(0x1234, StopResultClear, ErrorCodeNone, ""),
		"stopccn-long":    stopCCN(0x1234, StopResultError, ErrorCodeVendor, long),
		"hello":           hello(),
		"icrq":            icrq(0xffff, 0xffffffff),
		"icrp":            icrp(0x5678),
		"iccn":            iccn(FramingAsync),
		"cdn":             cdn(0x5678, CDNResultAdmin, ErrorCodeNone, ""),
		"cdn-long":        cdn(0x5678, CDNResultError, ErrorCodeValue, long),
		"result-boundary": newMessage(MsgCDN, avpResult(CDNResultError, 0, strings.Repeat("y", maxAVPValueLen-4))),
	}
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			m.TunnelID, m.SessionID, m.Ns, m.Nr = 7, 9, 65535, 1
			got := m.appendTo(nil)
			want, err := m.AppendBinary(nil)
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("appendTo and AppendBinary differ:\n %x\n %x", got, want)
			}
			var back Message
			if err := back.UnmarshalBinary(got); err != nil {
				t.Fatalf("does not parse back: %v", err)
			}
			if !reflect.DeepEqual(&back, m) {
				t.Fatalf("parsed back as\n %+v\nbuilt\n %+v", back, *m)
			}
		})
	}
}

// TestAppendBinaryLimits checks the errors of the checked encoder, which
// messages built elsewhere (tests, fuzzing) go through.
func TestAppendBinaryLimits(t *testing.T) {
	big := AVP{Type: AVPHostName, Value: make([]byte, maxAVPValueLen+1)}
	if _, err := big.AppendBinary(nil); err == nil {
		t.Error("AVP value beyond the Length field encoded")
	}
	m := newMessage(MsgHello, big)
	if b, err := m.AppendBinary([]byte{1}); err == nil || !bytes.Equal(b, []byte{1}) {
		t.Errorf("message with a long AVP: %x, %v", b, err)
	}
	m = newMessage(MsgHello)
	for range 70 {
		m.AVPs = append(m.AVPs, AVP{Type: AVPHostName, Value: make([]byte, maxAVPValueLen)})
	}
	if _, err := m.AppendBinary(nil); err == nil {
		t.Error("message beyond 64 KiB encoded")
	}
}
