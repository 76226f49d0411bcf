package isakmp

import (
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// Action is what an FSM asks the tunnel layer to do, or tells it.
type Action interface{ isAction() }

// Send is one ISAKMP message. NATT=false: send to the peer's port 500
// without a marker. NATT=true: send to the peer's NAT-T port (4500); the
// tunnel adds the 4-byte non-ESP marker, Data never includes it.
type Send struct {
	Data []byte
	NATT bool
}

// Phase1Up reports an established IKE SA.
type Phase1Up struct {
	Proposal    suite.IKEProposal
	PeerID      string       // printable
	NATDetected bool         // the peer's NAT-D did not match our address
	PlainESP    bool         // ESP goes without UDP encapsulation (Config.PlainESP), IKE stays on port 500
	Exchange    ExchangeType // ExchangeMain or ExchangeAggressive
	Auth        uint16       // the authentication method (AuthPreSharedKey, AuthRSASig, ...)
}

// ChildSAUp asks the tunnel to install an IPsec SA pair (again on every re-key).
type ChildSAUp struct {
	SA    ChildSA
	Rekey bool
}

// ChildSAInbound asks the tunnel to install the inbound half of an SA pair
// now, ahead of its ChildSAUp. As Quick Mode responder we send message 2
// and the initiator starts using the new SA as soon as it sends message 3,
// so its first packets can overtake that message on their way to us.
type ChildSAInbound struct{ SA ChildSA }

// ChildSAGone says an old SA pair may now be removed (peer Delete, the old
// pair RekeyGrace after a re-key, or expiry).
type ChildSAGone struct{ InSPI, OutSPI uint32 }

// Dropped says a received message was ignored; Reason says why ("Quick
// Mode 2: HASH mismatch", "not our cookies"), for -v logs and counters. It
// is never fatal, and Reason never holds key material.
type Dropped struct{ Reason string }

// Fail is fatal. An FSM reports at most one; afterwards it ignores all input
// (Close still sends its Deletes).
type Fail struct{ Err error }

func (Send) isAction()           {}
func (Phase1Up) isAction()       {}
func (ChildSAUp) isAction()      {}
func (ChildSAInbound) isAction() {}
func (ChildSAGone) isAction()    {}
func (Dropped) isAction()        {}
func (Fail) isAction()           {}

// ChildSA is a negotiated ESP SA pair with its keys.
type ChildSA struct {
	InSPI, OutSPI                              uint32 // InSPI: ours (the peer encrypts to it); OutSPI: the peer's
	Transform                                  suite.ESPTransform
	InEncKey, InAuthKey, OutEncKey, OutAuthKey []byte
	Lifetime                                   time.Duration
	// EncapMode is the negotiated mode: transport (2, or in UDP 4 or
	// 61444) or tunnel (1, or in UDP 3 or 61443; EncapIsTunnel).
	EncapMode uint16
}
