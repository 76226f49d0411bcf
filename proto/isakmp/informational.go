package isakmp

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
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
// fatal notifies. Ref: RFC 2409 §5.7, RFC 3706.
func (e *engine) handleInfo(now time.Time, h *Header, msg []byte) error {
	if h.Flags&FlagEncryption == 0 || !e.keyed || h.MessageID == 0 {
		return nil
	}
	d, err := e.decrypt(h, msg, phase2IV(e.k.prop.Hash, e.k.lastP1, h.MessageID, e.k.block))
	if err != nil {
		return nil
	}
	rest, ok := d.afterHash()
	if !ok || !hmac.Equal(e.k.prop.Hash.PRF(e.k.skeyidA, midBytes(h.MessageID), rest), d.ps[0].Body) {
		return nil
	}
	for _, p := range d.ps[1:] {
		var err error
		switch p.Type {
		case PayloadNotify:
			var n Notify
			if n.UnmarshalBinary(p.Body) != nil {
				continue
			}
			err = e.handleNotify(now, &n)
		case PayloadDelete:
			var del Delete
			if del.UnmarshalBinary(p.Body) != nil {
				continue
			}
			err = e.handleDelete(now, &del)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *engine) handleNotify(now time.Time, n *Notify) error {
	switch {
	case n.Type == NotifyRUThere && e.up:
		if len(n.Data) == 4 {
			return e.sendDPD(NotifyRUThereAck, binary.BigEndian.Uint32(n.Data))
		}
	case n.Type == NotifyRUThereAck:
		e.dpdAcks++
	case n.Type == NotifyInvalidSPI || n.Type == NotifyInvalidMessageID:
		// Recoverable; retransmission or a re-key sorts it out.
	case n.Type.IsError():
		return &NotifyError{Type: uint16(n.Type), Data: append([]byte(nil), n.Data...)}
	}
	return nil
}

func (e *engine) handleDelete(now time.Time, d *Delete) error {
	switch {
	case d.Protocol == ProtoISAKMP && d.SPISize == 16:
		for _, s := range d.SPIs {
			if bytes.Equal(s, e.k.cookies()) {
				return ErrPeerDeleted
			}
		}
	case d.Protocol == ProtoIPsecESP && d.SPISize == 4:
		for _, s := range d.SPIs {
			spi := binary.BigEndian.Uint32(s)
			for i, l := range e.sas {
				if l.sa.OutSPI == spi || l.sa.InSPI == spi {
					if err := e.removeSA(now, i, false); err != nil {
						return err
					}
					break
				}
			}
		}
	}
	return nil
}
