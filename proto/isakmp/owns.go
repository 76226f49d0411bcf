package isakmp

import "bytes"

// Owns reports whether msg belongs to this IKE SA: its initiator cookie is
// ours (RFC 2408 §3.1). A caller with several IKE SAs on one socket (during
// re-authentication) uses it to route each message to the one that Handles
// it, so that the others need not report it as dropped.
func (in *Initiator) Owns(msg []byte) bool {
	ck := in.e.k.ckyI
	return len(msg) >= len(ck) && ck != [8]byte{} && bytes.Equal(msg[:len(ck)], ck[:])
}
