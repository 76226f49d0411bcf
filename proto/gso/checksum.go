package gso

import (
	"encoding/binary"
	"math/bits"
)

// sum adds the 16-bit big-endian words of b (an odd last byte padded with
// zero) to initial in one's-complement arithmetic and returns the sum
// folded to 16 bits, not complemented. Eight bytes at a time, with the
// carries added back (RFC 1071 §2: the sum is independent of word size).
func sum(b []byte, initial uint64) uint16 {
	var carry uint64
	acc := initial
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	acc, carry = bits.Add64(acc, carry, 0)
	acc += carry // cannot carry again: acc was at most 2^64-2 after a carry
	var tail uint64
	for len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	acc, carry = bits.Add64(acc, tail, 0)
	acc += carry
	// Fold 64 → 16 bits.
	acc = acc>>32 + acc&0xFFFFFFFF
	acc = acc>>32 + acc&0xFFFFFFFF
	acc = acc>>16 + acc&0xFFFF
	acc = acc>>16 + acc&0xFFFF
	return uint16(acc)
}

// pseudoSum is the unfolded sum of the TCP pseudo-header of the IPv4 or
// IPv6 packet pkt (addresses from its header) for a TCP length of n.
// Ref: RFC 9293 §3.1 (IPv4), RFC 8200 §8.1 (IPv6).
func pseudoSum(pkt []byte, v6 bool, n int) uint64 {
	var s uint64
	var addrs []byte
	if v6 {
		addrs = pkt[8:40]
	} else {
		addrs = pkt[12:20]
	}
	for len(addrs) >= 4 {
		s += uint64(binary.BigEndian.Uint32(addrs))
		addrs = addrs[4:]
	}
	return s + protoTCP + uint64(n)
}

// ipv4HeaderSum writes the IPv4 header checksum of hdr (its whole
// header). Ref: RFC 791 §3.1.
func putIPv4Checksum(hdr []byte) {
	hdr[10], hdr[11] = 0, 0
	binary.BigEndian.PutUint16(hdr[10:], ^sum(hdr, 0))
}
