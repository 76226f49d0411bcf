package tunnel

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// dataStats is a snapshot of the data path's counters.
type dataStats struct {
	// Outbound (TUN → server).
	TxPackets, TxBytes uint64 // IP packets (and their bytes) sent
	TxNoSA             uint64 // dropped: no outbound SA
	TxNoSession        uint64 // dropped: no L2TP session
	TxNotIPv4          uint64 // dropped: neither an IPv4 nor an IPv6 packet
	TxNoIPv6           uint64 // dropped: an IPv6 packet while IPv6CP is not open
	TxSealErrors       uint64 // dropped: ESP refused (sequence numbers exhausted, no room)
	TxSendErrors       uint64 // socket write failed
	TxTUNErrors        uint64 // TUN read errors
	TxMSSClamped       uint64 // TCP SYNs whose MSS option was lowered

	// Inbound (server → TUN).
	RxPackets, RxBytes uint64 // IP packets (and their bytes) written to the TUN
	RxControl          uint64 // IKE, L2TP control and PPP control messages forwarded
	RxKeepalives       uint64 // NAT-T keepalives received
	RxForeign          uint64 // dropped: not from the server's IKE or NAT-T address
	RxTruncated        uint64 // dropped: filled the whole buffer (possibly cut short)
	RxInvalid          uint64 // dropped: unclassifiable datagram (empty; too short for ESP)
	RxIKEMalformed     uint64 // dropped: IKE without a valid ISAKMP header (isakmp.WellFormed)
	RxIKENotOurs       uint64 // dropped: IKE with cookies of no IKE SA of ours (isakmp.Filter)
	RxUnknownSPI       uint64 // dropped: no inbound SA with that SPI
	RxESPErrors        uint64 // dropped: ESP Open failed (ICV, padding, length)
	RxESPReplay        uint64 // dropped: ESP sequence number replayed or too old
	RxDummy            uint64 // discarded: ESP dummy packet (RFC 4303 §2.6)
	RxInnerErrors      uint64 // dropped: bad next header, inner UDP, L2TP header or PPP frame
	RxWrongSession     uint64 // dropped: L2TP data for another (stale) tunnel or session
	RxNoTUN            uint64 // dropped: IP packet before the TUN is up
	RxTUNErrors        uint64 // TUN write failed
	RxReadErrors       uint64 // socket read errors
	RxMSSClamped       uint64 // TCP SYNs whose MSS option was lowered
}

// dropCount is one drop reason and its count.
type dropCount struct {
	Reason string
	N      uint64
}

// rxDrops lists the inbound drops by reason, in a fixed order, with the
// names that status (docs/json.md) and the -v log use.
func (s *dataStats) rxDrops() []dropCount {
	return []dropCount{
		{"foreign", s.RxForeign}, {"truncated", s.RxTruncated}, {"invalid", s.RxInvalid},
		{"ike_malformed", s.RxIKEMalformed}, {"ike_not_ours", s.RxIKENotOurs},
		{"unknown_spi", s.RxUnknownSPI}, {"esp_error", s.RxESPErrors}, {"esp_replay", s.RxESPReplay},
		{"esp_dummy", s.RxDummy}, {"inner_error", s.RxInnerErrors}, {"wrong_session", s.RxWrongSession},
		{"no_tun", s.RxNoTUN}, {"tun_error", s.RxTUNErrors}, {"read_error", s.RxReadErrors},
	}
}

// txDrops lists the outbound drops by reason, like rxDrops.
func (s *dataStats) txDrops() []dropCount {
	return []dropCount{
		{"no_sa", s.TxNoSA}, {"no_session", s.TxNoSession}, {"not_ip", s.TxNotIPv4}, {"no_ipv6", s.TxNoIPv6},
		{"seal_error", s.TxSealErrors}, {"send_error", s.TxSendErrors}, {"tun_error", s.TxTUNErrors},
	}
}

// sumDrops adds up counts.
func sumDrops(l []dropCount) (n uint64) {
	for _, d := range l {
		n += d.N
	}
	return n
}

// formatDrops writes the non-zero counts of now, less those of before (the
// same list, earlier; nil: none), as "reason n, reason n"; "" if none.
func formatDrops(now, before []dropCount) string {
	var b strings.Builder
	for i, d := range now {
		n := d.N
		if i < len(before) {
			n -= before[i].N
		}
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", d.Reason, n)
	}
	return b.String()
}

// dataCounters are the live counters behind dataStats. Outbound ones are
// written by readTUN (and send*), inbound ones by readUDP; they are padded
// apart so the two goroutines do not share a cache line.
type dataCounters struct {
	txPackets, txBytes, txNoSA, txNoSession, txNotIPv4 atomic.Uint64
	txSealErrors, txSendErrors, txTUNErrors            atomic.Uint64
	txMSSClamped, txNoIPv6                             atomic.Uint64
	_                                                  [64]byte
	rxPackets, rxBytes, rxControl, rxKeepalives        atomic.Uint64
	rxForeign, rxTruncated, rxInvalid                  atomic.Uint64
	rxIKEMalformed, rxIKENotOurs                       atomic.Uint64
	rxUnknownSPI, rxESPErrors, rxESPReplay, rxDummy    atomic.Uint64
	rxInnerErrors, rxWrongSession, rxNoTUN             atomic.Uint64
	rxTUNErrors, rxReadErrors, rxMSSClamped            atomic.Uint64
}

// stats returns a snapshot of the counters.
func (d *dataPath) stats() dataStats {
	c := &d.c
	return dataStats{
		TxPackets: c.txPackets.Load(), TxBytes: c.txBytes.Load(),
		TxNoSA: c.txNoSA.Load(), TxNoSession: c.txNoSession.Load(), TxNotIPv4: c.txNotIPv4.Load(), TxNoIPv6: c.txNoIPv6.Load(),
		TxSealErrors: c.txSealErrors.Load(), TxSendErrors: c.txSendErrors.Load(), TxTUNErrors: c.txTUNErrors.Load(),
		RxPackets: c.rxPackets.Load(), RxBytes: c.rxBytes.Load(),
		RxControl: c.rxControl.Load(), RxKeepalives: c.rxKeepalives.Load(),
		RxForeign: c.rxForeign.Load(), RxTruncated: c.rxTruncated.Load(), RxInvalid: c.rxInvalid.Load(),
		RxIKEMalformed: c.rxIKEMalformed.Load(), RxIKENotOurs: c.rxIKENotOurs.Load(),
		RxUnknownSPI: c.rxUnknownSPI.Load(), RxESPErrors: c.rxESPErrors.Load(),
		RxESPReplay: c.rxESPReplay.Load(), RxDummy: c.rxDummy.Load(),
		RxInnerErrors: c.rxInnerErrors.Load(), RxWrongSession: c.rxWrongSession.Load(),
		RxNoTUN: c.rxNoTUN.Load(), RxTUNErrors: c.rxTUNErrors.Load(), RxReadErrors: c.rxReadErrors.Load(),
		TxMSSClamped: c.txMSSClamped.Load(), RxMSSClamped: c.rxMSSClamped.Load(),
	}
}
