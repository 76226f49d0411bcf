package isakmp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// sendInfo sends HDR*, HASH(1), payloads with HASH(1) = prf(SKEYID_a, M-ID | payloads).
// Ref: RFC 2409 §5.7.
func (e *engine) sendInfo(ps []Payload) error {
	if !e.keyed {
		return nil
	}
	mid, err := e.newMID()
	if err != nil {
		return err
	}
	msg, _ := e.encrypt(ExchangeInformational, mid, e.hashed(ps, midBytes(mid)), phase2IV(e.k.prop.Hash, e.k.lastP1, mid, e.k.block))
	e.send(msg, e.natt)
	return nil
}

func (e *engine) sendNotify(n Notify) error {
	return e.sendInfo([]Payload{{Type: PayloadNotify, Body: n.append(nil)}})
}

func (e *engine) sendDelete(d Delete) error {
	return e.sendInfo([]Payload{{Type: PayloadDelete, Body: d.append(nil)}})
}

func (e *engine) deleteESP(spi uint32) error {
	return e.sendDelete(Delete{DOI: DOIIPsec, Protocol: ProtoIPsecESP, SPISize: 4, SPIs: [][]byte{wire.AppendUint32(nil, spi)}})
}

func (e *engine) sendDPD(t NotifyType, seq uint32) error {
	return e.sendNotify(Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPI: e.k.cookies(), Type: t, Data: wire.AppendUint32(nil, seq)})
}

// handleInfo processes an encrypted Informational exchange: DPD, Deletes,
// fatal notifies. Ref: RFC 2409 §5.7, RFC 3706. Each payload it does not
// act on is a Dropped action of its own.
func (e *engine) handleInfo(now time.Time, h *Header, msg []byte) error {
	const what = "Informational"
	if h.MessageID == 0 {
		return drop(what, "message ID 0")
	}
	d, err := e.decryptHashed(what, h, msg, phase2IV(e.k.prop.Hash, e.k.lastP1, h.MessageID, e.k.block), midBytes(h.MessageID))
	if err != nil {
		return err
	}
	if len(d.ps) == 1 {
		return drop(what, "nothing after HASH")
	}
	for _, p := range d.ps[1:] {
		if err := e.dropped(e.infoPayload(now, p)); err != nil {
			return err
		}
	}
	return nil
}

// infoPayload acts on one payload of an Informational exchange.
func (e *engine) infoPayload(now time.Time, p Payload) error {
	const what = "Informational"
	switch p.Type {
	case PayloadNotify:
		var n Notify
		if err := n.UnmarshalBinary(p.Body); err != nil {
			return dropErr(what, err)
		}
		return e.handleNotify(now, &n)
	case PayloadDelete:
		var d Delete
		if err := d.UnmarshalBinary(p.Body); err != nil {
			return dropErr(what, err)
		}
		return e.handleDelete(now, &d)
	}
	return drop(what, p.Type.String()+" payload ignored")
}

func (e *engine) handleNotify(now time.Time, n *Notify) error {
	const what = "Informational"
	switch {
	case n.Type == NotifyRUThere && !e.up:
		return drop(what, "R-U-THERE before phase 1 is up")
	case n.Type == NotifyRUThere && len(n.Data) != 4:
		return drop(what, fmt.Sprintf("R-U-THERE with a %d-byte sequence number", len(n.Data)))
	case n.Type == NotifyRUThere:
		return e.sendDPD(NotifyRUThereAck, binary.BigEndian.Uint32(n.Data))
	case n.Type == NotifyRUThereAck:
		e.dpdAcks++
		return nil
	case n.Type == NotifyInvalidSPI || n.Type == NotifyInvalidMessageID:
		// Recoverable; retransmission or a re-key sorts it out.
		return drop(what, n.Type.String()+" ignored: recoverable")
	case n.Type.IsError():
		return &NotifyError{Type: uint16(n.Type), Data: append([]byte(nil), n.Data...)}
	}
	return drop(what, n.Type.String()+" ignored")
}

func (e *engine) handleDelete(now time.Time, d *Delete) error {
	const what = "Informational"
	switch {
	case d.Protocol == ProtoISAKMP && d.SPISize == 16:
		for _, s := range d.SPIs {
			if bytes.Equal(s, e.k.cookies()) {
				return ErrPeerDeleted
			}
		}
		return drop(what, "Delete of another IKE SA")
	case d.Protocol == ProtoIPsecESP && d.SPISize == 4:
		for _, s := range d.SPIs {
			if err := e.dropped(e.deleteSPI(now, binary.BigEndian.Uint32(s))); err != nil {
				return err
			}
		}
		return nil
	}
	return drop(what, fmt.Sprintf("Delete of protocol %d with %d-byte SPIs", d.Protocol, d.SPISize))
}

// deleteSPI removes the SA pair one of whose SPIs is spi, on the peer's
// Delete.
func (e *engine) deleteSPI(now time.Time, spi uint32) error {
	for i, l := range e.sas {
		if l.sa.OutSPI == spi || l.sa.InSPI == spi {
			return e.removeSA(now, i, false)
		}
	}
	return drop("Informational", fmt.Sprintf("Delete of unknown SPI 0x%08x", spi))
}
