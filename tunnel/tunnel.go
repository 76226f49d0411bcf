// Package tunnel runs one L2TP/IPsec connection: it owns the UDP socket, the
// TUN device, the timers and the single control goroutine that drives the
// pure state machines in proto/. It is the only package that does I/O.
package tunnel

import "context"

// Run connects, bridges packets until ctx is cancelled, then tears down
// (PPP Terminate, L2TP CDN + StopCCN, IKE Delete, TUN removal) within a
// few seconds. It returns nil after a clean shutdown by ctx, or a
// *PhaseError.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	panic("not yet")
}
