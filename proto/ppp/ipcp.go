package ppp

import (
	"net/netip"
	"time"
)

// IPCP option layouts (Ref: RFC 1332 §3.3, RFC 1877 §1.1, §1.3):
//
//	IP-Address:           | Type=3   | Length=6 | IP-Address (4) |
//	Primary-DNS-Server:   | Type=129 | Length=6 | IP-Address (4) |
//	Secondary-DNS-Server: | Type=131 | Length=6 | IP-Address (4) |

func optAddr(t uint8, a netip.Addr) Option {
	if !a.Is4() {
		a = netip.IPv4Unspecified()
	}
	b := a.As4()
	return Option{Type: t, Data: b[:]}
}

func addrOf(d []byte) (netip.Addr, bool) {
	if len(d) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(d)), true
}

// clientIPCP is the client's IPCP policy: ask for an address and two DNS
// servers, take what the peer Naks, drop what it Rejects.
type clientIPCP Client

func (h *clientIPCP) reqOptions() []Option {
	var opts []Option
	if h.reqAddr {
		opts = append(opts, optAddr(ipcpOptAddr, h.local))
	}
	if h.reqDNS[0] {
		opts = append(opts, optAddr(ipcpOptDNS1, h.dns[0]))
	}
	if h.reqDNS[1] {
		opts = append(opts, optAddr(ipcpOptDNS2, h.dns[1]))
	}
	return opts
}

func (h *clientIPCP) gotNak(_ time.Time, opts []Option) {
	for _, o := range opts {
		a, ok := addrOf(o.Data)
		if !ok {
			continue
		}
		switch o.Type {
		case ipcpOptAddr:
			h.local = a
		case ipcpOptDNS1:
			h.dns[0] = a
		case ipcpOptDNS2:
			h.dns[1] = a
		}
	}
}

func (h *clientIPCP) gotReject(_ time.Time, opts []Option) {
	for _, o := range opts {
		switch o.Type {
		case ipcpOptAddr:
			h.reqAddr = false
		case ipcpOptDNS1:
			h.reqDNS[0] = false
			h.dns[0] = netip.IPv4Unspecified()
		case ipcpOptDNS2:
			h.reqDNS[1] = false
			h.dns[1] = netip.IPv4Unspecified()
		}
	}
}

func (h *clientIPCP) checkOption(o Option) (uint8, Option) {
	if o.Type == ipcpOptAddr && len(o.Data) == 4 {
		return codeConfAck, Option{}
	}
	return codeConfRej, Option{} // IP-Compression, DNS requests, unknown
}

func (h *clientIPCP) acked(opts []Option) {
	h.peer = netip.Addr{}
	for _, o := range opts {
		if o.Type == ipcpOptAddr {
			if a, _ := addrOf(o.Data); !a.IsUnspecified() {
				h.peer = a
			}
		}
	}
}

func (h *clientIPCP) up(time.Time) {
	c := (*Client)(h)
	if !c.local.Is4() || c.local.IsUnspecified() {
		c.abort(ErrNoAddress)
		return
	}
	var dns []netip.Addr
	for i, a := range c.dns {
		if c.reqDNS[i] && a.Is4() && !a.IsUnspecified() {
			dns = append(dns, a)
		}
	}
	c.ncpUp(Up{Local: c.local, Peer: c.peer, DNS: dns, PeerMRU: c.peerMRU, MRU: c.ackedMRU()})
}

func (h *clientIPCP) down(time.Time) {
	h.pendingUp = nil
	if h.upSent && h.phase != phaseTerminate {
		(*Client)(h).abort(&TerminatedError{Phase: "network", Reason: "peer restarted IPCP negotiation"})
	}
}

func (h *clientIPCP) failed(_ time.Time, err error) { (*Client)(h).abort(err) }
func (h *clientIPCP) terminated(_ time.Time, reason []byte) {
	(*Client)(h).abort(h.terminatedErr(reason))
}
func (h *clientIPCP) termDone(time.Time)                   {}
func (h *clientIPCP) extra(time.Time, Packet, []byte) bool { return false }

// serverIPCP hands out cfg.Pool and cfg.DNS.
type serverIPCP Server

func (h *serverIPCP) reqOptions() []Option {
	if h.reqAddr && h.cfg.Local.Is4() {
		return []Option{optAddr(ipcpOptAddr, h.cfg.Local)}
	}
	return nil
}

func (h *serverIPCP) gotNak(time.Time, []Option) {} // we insist on our address

func (h *serverIPCP) gotReject(_ time.Time, opts []Option) {
	if _, ok := findOption(opts, ipcpOptAddr); ok {
		h.reqAddr = false
	}
}

func (h *serverIPCP) checkOption(o Option) (uint8, Option) {
	a, ok := addrOf(o.Data)
	switch o.Type {
	case ipcpOptAddr:
		if !ok {
			return codeConfRej, Option{}
		}
		if h.cfg.Pool.Is4() && a != h.cfg.Pool {
			return codeConfNak, optAddr(ipcpOptAddr, h.cfg.Pool)
		}
		return codeConfAck, Option{}
	case ipcpOptDNS1, ipcpOptDNS2:
		i := 0
		if o.Type == ipcpOptDNS2 {
			i = 1
		}
		if !ok || i >= len(h.cfg.DNS) {
			return codeConfRej, Option{} // SoftEther rejects DNS2 when unset
		}
		if a != h.cfg.DNS[i] {
			return codeConfNak, optAddr(o.Type, h.cfg.DNS[i])
		}
		return codeConfAck, Option{}
	}
	return codeConfRej, Option{}
}

func (h *serverIPCP) acked([]Option) {}

func (h *serverIPCP) up(time.Time) {
	mru := uint16(defaultMRU)
	if h.reqMRU {
		mru = h.cfg.MRU
	}
	(*Server)(h).ncpUp(Up{Local: h.cfg.Local, Peer: h.cfg.Pool, DNS: append([]netip.Addr(nil), h.cfg.DNS...), PeerMRU: h.peerMRU, MRU: mru})
}

func (h *serverIPCP) down(time.Time) { h.pendingUp = nil }

func (h *serverIPCP) failed(_ time.Time, err error) { (*Server)(h).abort(err) }
func (h *serverIPCP) terminated(_ time.Time, reason []byte) {
	(*Server)(h).abort(h.terminatedErr(reason))
}
func (h *serverIPCP) termDone(time.Time)                   {}
func (h *serverIPCP) extra(time.Time, Packet, []byte) bool { return false }
