// Package ppp implements PPP over L2TP (RFC 1661 without the HDLC framing of
// RFC 1662): LCP, PAP (RFC 1334), CHAP-MD5 (RFC 1994), MS-CHAPv2 (RFC 2759),
// EAP (RFC 3748) with EAP-MD5 and EAP-MSCHAPv2
// (draft-kamath-pppext-eap-mschapv2), IPCP (RFC 1332) with DNS options
// (RFC 1877), and IPv6CP (RFC 5072) when ClientConfig.IPv6 asks for it.
// Other network protocols (CCP, …, and IPv6CP when it is off) get a
// Protocol-Reject.
//
// Client is the side l2tpctl runs; Server is a configurable authenticator
// for in-process fake peers (SoftEther-like and pppd-like) in tests. Both
// follow the proto/ state-machine contract (docs/architecture.md):
//
//	c := ppp.NewClient(ppp.ClientConfig{User: u, Password: pw, Rand: rand.Reader})
//	acts := c.Start(now)           // LCP Configure-Request
//	acts = c.Handle(now, frame)    // every PPP control frame from the session
//	acts = c.Tick(now)             // when now >= c.Deadline()
//	acts = c.Close(now)            // one LCP Terminate-Request
//
// Actions: Send (one frame, always FF 03 + 2-byte protocol), LinkUp (LCP
// opened), AuthUp, Up (IPCP opened: address, peer, DNS, peer MRU), Down
// (typed error; nil after our own Close) and Dropped (a received frame was
// ignored, with the reason; never fatal). After Down the machine is dead:
// Handle reports every frame as Dropped, Tick returns nothing and Deadline
// is zero.
//
// Phases (RFC 1661 §3.2): Establish (LCP) → Authenticate (the method
// the server asked for in its Auth-Protocol option, if ClientConfig.Auth
// allows it; the client Naks it for a method it prefers, see checkAuth) →
// Network (IPCP, and IPv6CP next to it). Echo-Requests keep the link alive and detect a dead peer.
//
// The data path uses only PutHeader and ParseFrame, which do not allocate.
// IPv4 frames (ProtoIPv4) and, with IPv6CP, IPv6 frames (ProtoIPv6) belong
// to the data path; Handle drops them.
package ppp
