package tunnel

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/l2tpctl/l2tpctl/proto/esp"
)

// ServerPath is the data path turned round: the server's side of one
// client's session, on the same code as the client's (readUDP, readTUN,
// ESP seal and open in place, batched socket and TUN I/O where the
// platform has them). It exists for the benchmark peer
// (tunnel/internal/benchpeer) and for tests, so that the peer of a
// benchmark costs what the client costs per packet and gets its
// improvements: l2tpctl itself is a client, and Run never uses it.
//
// The control plane (IKE, L2TP control, PPP) stays with whoever started
// the ServerPath (peertest's server, through peertest.DataHooks): the
// ServerPath reads the server's NAT-T socket, opens ESP from the client,
// writes the IP packets inside to the TUN and hands everything else
// (IKE, L2TP control messages, PPP control frames) to
// ServerPathConfig.Control; it reads the TUN and sends each packet,
// sealed on the current outbound SA, to the client. The owner tells it
// the SAs (AddSA, RemoveSA) and the L2TP IDs (SetSession) as they come
// and go. Only transport-mode ESP in UDP: no tunnel mode, no plain ESP,
// no IPv6.
type ServerPath struct {
	d       *dataPath // client = d.nattAddr
	tun     TUN
	control func(kind ServerControl, msg []byte)
	ctrl    chan ctrlPacket // readUDP → deliver; closed by Close once readUDP is gone
	stop    chan struct{}   // closed by Close: ends readUDP's pending hand-over
	wg      sync.WaitGroup

	closeOnce sync.Once
}

// ServerControl says what a message handed to ServerPathConfig.Control is.
type ServerControl int

const (
	// ServerIKE is an ISAKMP message that came to the NAT-T port (the
	// non-ESP marker stripped).
	ServerIKE ServerControl = iota + 1
	// ServerL2TP is a whole L2TP message (header included) out of ESP: a
	// control message, or a data message for a call other than the one
	// SetSession gave (none yet: the client's first LCP frame comes right
	// behind its ICCN, before the owner has seen the ICCN and set the IDs).
	ServerL2TP
	// ServerPPP is a whole PPP frame of the session out of ESP and L2TP,
	// of a protocol other than IPv4 (LCP, authentication, IPCP, …).
	ServerPPP
)

// ServerPathConfig is what StartServerPath needs.
type ServerPathConfig struct {
	// Conn is the server's NAT-T socket (UDP 4500), or a duplicate of it
	// (the owner may keep sending on the original). The ServerPath reads
	// it, sends to Client on it, and closes it. Datagrams from anyone but
	// Client are dropped.
	Conn PacketConn
	// Client is the client's address and port, where everything goes.
	Client netip.AddrPort
	// TUN is where the client's IP packets are written and the packets to
	// send to the client are read; the ServerPath closes it.
	TUN TUN
	// Control gets the control messages, in order, from one goroutine;
	// msg is the callee's to keep. It must not block for long: the socket
	// is not read meanwhile.
	Control func(kind ServerControl, msg []byte)
	Log     *Logger
	// NoUDPOffload sends and receives one datagram per message, as
	// Config.NoUDPOffload makes the client's data path do.
	NoUDPOffload bool
}

// OpenServerTUN creates the TUN device name as the client's is created
// (this package's TUN, with the batching and offloads the platform has),
// up, with the address local and the point-to-point peer address peer,
// MTU mtu, and nothing else: no routes, no DNS. For the benchmark peer;
// Close removes it.
// With noOffload the device is a plain one, as Config.NoTUNOffload asks of
// the client's.
func OpenServerTUN(name string, local, peer netip.Addr, mtu int, noOffload bool) (TUN, error) {
	return openTUN(TUNConfig{Name: name, Local: local, Peer: peer, MTU: mtu, NoOffload: noOffload})
}

// ServerPathStats are a ServerPath's counters.
type ServerPathStats struct {
	// Out: IP packets (and their bytes) read from the TUN and sent to the
	// client; In: IP packets from the client written to the TUN.
	OutPackets, OutBytes, InPackets, InBytes uint64
	// Control messages handed over, and datagrams dropped for any reason
	// (unknown SPI, ESP errors, replays, wrong session, a stranger's
	// address, TUN errors).
	Control, Dropped uint64
}

// StartServerPath starts the data path of cfg's session: one goroutine
// reads the socket, one the TUN, one hands control messages to
// cfg.Control. Nothing is sent or written to the TUN until AddSA and
// SetSession.
func StartServerPath(cfg ServerPathConfig) (*ServerPath, error) {
	if cfg.Conn == nil || cfg.TUN == nil || cfg.Control == nil || !cfg.Client.IsValid() {
		return nil, errors.New("tunnel: ServerPath needs a socket, a TUN, a control function and the client's address")
	}
	// The server's IKE address is the client's NAT-T address seen from
	// this side: ikeAddr (where unmarked datagrams are IKE) is left zero,
	// so every datagram must come from the client's one socket.
	d := newDataPath(cfg.Conn, netip.AddrPort{}, cfg.Client, cfg.Log)
	d.wrongSessionToControl = true
	if cfg.NoUDPOffload {
		d.noUDPOffload()
	}
	d.setTUN(cfg.TUN)
	p := &ServerPath{
		d:       d,
		tun:     cfg.TUN,
		control: cfg.Control,
		ctrl:    make(chan ctrlPacket, 64),
		stop:    make(chan struct{}),
	}
	var readers sync.WaitGroup
	readers.Add(2)
	p.wg.Add(4)
	go func() {
		defer p.wg.Done()
		defer readers.Done()
		d.readUDP(p.ctrl, p.stop)
	}()
	go func() {
		defer p.wg.Done()
		defer readers.Done()
		if err := d.readTUN(cfg.TUN); err != nil {
			d.log.errorf("server path: %v", err)
		}
	}()
	go func() {
		defer p.wg.Done()
		readers.Wait()
		close(p.ctrl) // its only writer, readUDP, is gone
	}()
	go p.deliver()
	return p, nil
}

// deliver hands control messages to the owner until ctrl is closed.
func (p *ServerPath) deliver() {
	defer p.wg.Done()
	for c := range p.ctrl {
		switch c.kind {
		case kindIKE:
			p.control(ServerIKE, c.data)
		case kindL2TP:
			p.control(ServerL2TP, c.data)
		case kindPPP:
			p.control(ServerPPP, c.data)
		}
	}
}

// AddInbound adds in to the inbound SAs ahead of its pair's AddSA: a
// Quick Mode responder sends message 2 with the new SA ready, and the
// client sends on it right behind message 3.
func (p *ServerPath) AddInbound(in *esp.SA) { p.d.addInbound(in) }

// AddSA adds in to the inbound SAs and makes out the SA for everything
// sent from now on (a new pair, or a re-key's; the old inbound SA stays
// until RemoveSA). The SAs may be shared with the owner, who seals its
// control messages with out too.
func (p *ServerPath) AddSA(in, out *esp.SA) {
	p.d.addInbound(in)
	p.d.setOutbound(out)
}

// RemoveSA removes the inbound SA inSPI and, if out is the outbound SA,
// stops sending.
func (p *ServerPath) RemoveSA(inSPI uint32, out *esp.SA) {
	p.d.removeInbound(inSPI)
	if out != nil {
		p.d.out.CompareAndSwap(out, nil)
	}
}

// SetSession sets the L2TP IDs: the client's tunnel and session IDs
// (written into the data headers sent) and the server's (which the
// client's data must carry). Any ID 0 stops the data both ways.
func (p *ServerPath) SetSession(clientTunnel, clientSession, serverTunnel, serverSession uint16) {
	p.d.setSession(clientTunnel, clientSession, serverTunnel, serverSession)
}

// Stats returns the counters.
func (p *ServerPath) Stats() ServerPathStats {
	s := p.d.stats()
	return ServerPathStats{
		OutPackets: s.TxPackets, OutBytes: s.TxBytes, InPackets: s.RxPackets, InBytes: s.RxBytes,
		Control: s.RxControl,
		Dropped: s.RxForeign + s.RxTruncated + s.RxInvalid + s.RxIKEMalformed + s.RxIKENotOurs +
			s.RxUnknownSPI + s.RxESPErrors + s.RxESPReplay + s.RxDummy + s.RxInnerErrors +
			s.RxWrongSession + s.RxNoTUN + s.RxTUNErrors,
	}
}

// Close stops the data path: it closes the socket and the TUN, which ends
// the readers, lets the last control messages go to Control, and waits
// for its goroutines. It is idempotent, and safe to call from Control's
// caller's other goroutines, not from Control itself.
func (p *ServerPath) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.d.setTUN(nil)
		p.d.conn.Close()
		p.tun.Close()
	})
	p.wg.Wait()
}
