// Package l2tp implements L2TPv2 (RFC 2661) for l2tpctl: the header codec
// for control and data messages, the AVP codec, reliable delivery of
// control messages (Ns/Nr, ZLB acknowledgements, retransmission with
// exponential backoff, the peer's receive window), and two pure state
// machines: LAC, the client that opens a tunnel and places one incoming
// call, and LNS, a minimal responder for tests.
//
// The state machines follow the contract in docs/architecture.md: bytes and
// time in, actions out, no I/O, randomness from an injected io.Reader.
// Their actions are Send, TunnelUp, SessionUp, Closed (see its doc for
// what each Err means, nil for our own Close completed) and Dropped (a
// received message was ignored, with the reason). Close ends like the
// other exchanges: CDN and StopCCN are retransmitted until the peer
// acknowledges the StopCCN, or the retransmissions run out.
//
// Data path: PutDataHeader and ParseHeader do not allocate.
//
// Tunnel authentication (hidden.go): with LACConfig.Secret the LAC sends a
// Challenge in SCCRQ, checks the Challenge Response in SCCRP, answers the
// LNS's Challenge in SCCCN, hides its Challenge Response and Assigned
// Session ID behind a Random Vector, and unhides what the LNS hid. A
// failure is a *TunnelAuthError (ErrTunnelAuth, or ErrSecretRequired when
// the LNS asks and we have no secret). Ref: RFC 2661 §4.3, §5.1.1.
//
// Interop notes (see docs/interop.md): control messages always carry the L
// and S bits (SoftEther drops them otherwise); hidden AVPs are sent only
// with a secret (SoftEther drops them); Set-Link-Info and WAN-Error-Notify
// are acknowledged and reported as a Notice (Meraki sends SLI); unknown
// AVPs without the M bit, vendor AVPs included, are skipped; an unknown AVP
// with the M bit ends the call (session message) or the tunnel.
package l2tp
