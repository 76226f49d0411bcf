package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// dataPaths runs one tunnel.ServerPath per session of the peertest server
// srv, through its data hooks: a client's Main Mode starts one on a
// duplicate of the NAT-T socket and a TUN device opened for it, the SAs
// and L2TP IDs follow the server's, and the session's end closes it (which
// removes the TUN) and opens the TUN for the next one, so that a new
// session does not wait for it. Every method but close runs on the
// server's loop (the hooks), so nothing here needs a lock.
type dataPaths struct {
	natt    *net.UDPConn
	openTUN func() (tunnel.TUN, error)
	noUDPGO bool // ServerPathConfig.NoUDPOffload
	log     io.Writer
	srv     atomic.Pointer[peertest.Server] // set once the server is started; read by Control

	spare  tunnel.TUN // opened for the next session; nil: none
	cur    *tunnel.ServerPath
	client netip.AddrPort
	out    *esp.SA // the current outbound SA (to know when RemoveSA stops sending)
}

func newDataPaths(natt *net.UDPConn, openTUN func() (tunnel.TUN, error), noUDPOffload bool, log io.Writer) (*dataPaths, error) {
	tun, err := openTUN()
	if err != nil {
		return nil, err
	}
	return &dataPaths{natt: natt, openTUN: openTUN, noUDPGO: noUDPOffload, log: log, spare: tun}, nil
}

func (d *dataPaths) hooks() *peertest.DataHooks {
	return &peertest.DataHooks{
		Client: d.start,
		SAInbound: func(in *esp.SA) {
			if d.cur != nil {
				d.cur.AddInbound(in)
			}
		},
		SAUp: func(in, out *esp.SA) {
			if d.cur != nil {
				d.cur.AddSA(in, out)
			}
		},
		SAGone: func(inSPI uint32, out *esp.SA) {
			if d.cur != nil {
				d.cur.RemoveSA(inSPI, out)
			}
		},
		Session: func(ct, cs, st, ss uint16) {
			if d.cur != nil {
				d.cur.SetSession(ct, cs, st, ss)
			}
		},
		End: d.end,
	}
}

// start starts the data path of a session with client.
func (d *dataPaths) start(client netip.AddrPort) {
	d.stop()
	tun := d.spare
	d.spare = nil
	if tun == nil {
		var err error
		if tun, err = d.openTUN(); err != nil {
			fmt.Fprintf(d.log, "benchpeer: no data path for %v: %v\n", client, err)
			return
		}
	}
	conn, err := dupUDP(d.natt)
	if err != nil {
		tun.Close()
		fmt.Fprintf(d.log, "benchpeer: no data path for %v: %v\n", client, err)
		return
	}
	sp, err := tunnel.StartServerPath(tunnel.ServerPathConfig{
		Conn:         conn,
		Client:       client,
		TUN:          tun,
		NoUDPOffload: d.noUDPGO,
		Control: func(kind tunnel.ServerControl, msg []byte) {
			if srv := d.srv.Load(); srv != nil {
				srv.Inject(innerKind(kind), msg, client)
			}
		},
	})
	if err != nil {
		conn.Close()
		tun.Close()
		fmt.Fprintf(d.log, "benchpeer: no data path for %v: %v\n", client, err)
		return
	}
	d.cur, d.client = sp, client
	fmt.Fprintf(d.log, "benchpeer: session with %v on the tunnel data path (TUN %s)\n", client, tun.Name())
}

// end closes the current session's data path, if any, and opens the TUN
// for the next session.
func (d *dataPaths) end() {
	if !d.stop() {
		return
	}
	if d.spare == nil {
		tun, err := d.openTUN()
		if err != nil {
			fmt.Fprintf(d.log, "benchpeer: opening the TUN for the next session: %v\n", err)
			return
		}
		d.spare = tun
	}
}

// stop closes the current session's data path, if any (false: none),
// and reports its counters.
func (d *dataPaths) stop() bool {
	if d.cur == nil {
		return false
	}
	d.cur.Close()
	st := d.cur.Stats()
	fmt.Fprintf(d.log, "benchpeer: session with %v over: tunnel data path out %d packets (%d bytes), in %d packets (%d bytes), %d control messages, %d dropped\n",
		d.client, st.OutPackets, st.OutBytes, st.InPackets, st.InBytes, st.Control, st.Dropped)
	d.cur = nil
	return true
}

// close ends the current session's data path and closes the spare TUN;
// call it once the server is closed (no more hooks).
func (d *dataPaths) close() {
	d.stop()
	if d.spare != nil {
		d.spare.Close()
		d.spare = nil
	}
}

func innerKind(k tunnel.ServerControl) peertest.Inner {
	switch k {
	case tunnel.ServerIKE:
		return peertest.InnerIKE
	case tunnel.ServerL2TP:
		return peertest.InnerL2TP
	case tunnel.ServerPPP:
		return peertest.InnerPPP
	}
	return 0
}

// dupUDP returns a second socket object on c's socket (a duplicated
// descriptor): closing it ends the reads on it and leaves c open.
func dupUDP(c *net.UDPConn) (*net.UDPConn, error) {
	f, err := c.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	u, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("benchpeer: %T is not a UDP socket", pc)
	}
	return u, nil
}
