package tunnel

import "sync/atomic"

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
	RxInvalid          uint64 // dropped: unclassifiable datagram, or one filling the whole buffer
	RxUnknownSPI       uint64 // dropped: no inbound SA with that SPI
	RxESPErrors        uint64 // dropped: ESP Open failed (ICV, replay, padding, length)
	RxInnerErrors      uint64 // dropped: bad next header, inner UDP, L2TP header or PPP frame
	RxWrongSession     uint64 // dropped: L2TP data for another (stale) tunnel or session
	RxNoTUN            uint64 // dropped: IP packet before the TUN is up
	RxTUNErrors        uint64 // TUN write failed
	RxReadErrors       uint64 // socket read errors
	RxMSSClamped       uint64 // TCP SYNs whose MSS option was lowered
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
	rxForeign, rxInvalid, rxUnknownSPI, rxESPErrors    atomic.Uint64
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
		RxForeign: c.rxForeign.Load(), RxInvalid: c.rxInvalid.Load(),
		RxUnknownSPI: c.rxUnknownSPI.Load(), RxESPErrors: c.rxESPErrors.Load(),
		RxInnerErrors: c.rxInnerErrors.Load(), RxWrongSession: c.rxWrongSession.Load(),
		RxNoTUN: c.rxNoTUN.Load(), RxTUNErrors: c.rxTUNErrors.Load(), RxReadErrors: c.rxReadErrors.Load(),
		TxMSSClamped: c.txMSSClamped.Load(), RxMSSClamped: c.rxMSSClamped.Load(),
	}
}
