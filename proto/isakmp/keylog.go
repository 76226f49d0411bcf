package isakmp

// IKEKey is what a packet analyser needs to decrypt the encrypted messages
// of one IKE SA (Main Mode 5/6, Quick Mode, Informational): the initiator
// cookie that names the SA and the phase-1 cipher key derived from
// SKEYID_e (RFC 2409 §5 and Appendix B). Wireshark's IKEv1 decryption
// table holds exactly this pair; it computes the IVs itself from the
// key-exchange payloads in the capture. It is secret: only for --keylog.
type IKEKey struct {
	ICookie [8]byte
	EncKey  []byte
}

// IKEKey returns the key of this Initiator's IKE SA once it exists (from
// Main Mode message 4 on, or Aggressive Mode message 2); ok is false
// before. The key is a fresh copy.
func (i *Initiator) IKEKey() (k IKEKey, ok bool) {
	if !i.e.keyed {
		return IKEKey{}, false
	}
	hf := i.e.k.prop.Hash
	return IKEKey{ICookie: i.e.k.ckyI, EncKey: encKey(hf, i.e.k.skeyidE, i.e.k.prop.KeyBits/8)}, true
}
