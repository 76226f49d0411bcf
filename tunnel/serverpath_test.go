package tunnel

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/tuntest"
)

type serverCtrl struct {
	kind ServerControl
	msg  []byte
}

// TestServerPath drives a ServerPath from a socket playing the client:
// IKE and L2TP control go to Control; the client's first LCP frame, which
// comes before the owner has set the call's IDs (right behind ICCN), goes
// to Control as the whole L2TP message instead of being dropped, as does
// data for another call later; once the IDs are set PPP control frames
// go to Control and IPv4 to the TUN; what the TUN gives goes to the
// client sealed on the outbound SA; a stranger's datagrams are dropped.
func TestServerPath(t *testing.T) {
	goroutineLeakCheck(t)
	tr := testSuites[0].t
	n := nettest.NewNetwork()
	srvConn, err := n.Listen(serverNATT)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := n.Listen(clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	stranger, err := n.Listen(netip.AddrPortFrom(clientAddr.Addr(), clientAddr.Port()+1))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	tun := tuntest.NewChannelTUN("srv", 1400)
	tun.SetBatchSize(4)
	got := make(chan serverCtrl, 16)
	sp, err := StartServerPath(ServerPathConfig{
		Conn: srvConn, Client: clientAddr, TUN: tun,
		Control: func(kind ServerControl, msg []byte) { got <- serverCtrl{kind, msg} },
		Log:     testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	// The client's outbound SA is the server's inbound one, and back.
	cliOut, srvIn := newSA(t, tr, 0x1001, 1), newSA(t, tr, 0x1001, 1)
	srvOut, cliIn := newSA(t, tr, 0x2002, 2), newSA(t, tr, 0x2002, 2)
	sp.AddSA(srvIn, srvOut)

	send := func(c *nettest.Conn, b []byte) {
		t.Helper()
		if _, err := c.WriteToUDPAddrPort(b, serverNATT); err != nil {
			t.Fatal(err)
		}
	}
	want := func(kind ServerControl, msg []byte) {
		t.Helper()
		select {
		case c := <-got:
			if c.kind != kind || !bytes.Equal(c.msg, msg) {
				t.Fatalf("control %v % x, want %v % x", c.kind, c.msg, kind, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no control message (want %v)", kind)
		}
	}

	// IKE behind the non-ESP marker.
	ike := bytes.Repeat([]byte{0x11}, 28) // the shape classify needs: a 28-byte header
	ike[17] = 0x10                        // version 1.0
	ike[18] = 5                           // exchange type: informational
	putLen := func(b []byte) { b[24], b[25], b[26], b[27] = 0, 0, 0, byte(len(b)) }
	putLen(ike)
	send(cli, append(make([]byte, inet.NonESPMarkerLen), ike...))
	want(ServerIKE, ike)

	// L2TP control.
	zlb := l2tpControl(serverTunnel, 1, 2)
	send(cli, sealL2TP(t, zlb, cliOut))
	want(ServerL2TP, zlb)

	// LCP before SetSession: the whole L2TP data message.
	lcp := sealPPP(t, lcpEchoRequest, cliOut, serverTunnel, serverSess)
	send(cli, lcp)
	msg := make([]byte, l2tp.DataHeaderLen+len(lcpEchoRequest))
	l2tp.PutDataHeader(msg, serverTunnel, serverSess)
	copy(msg[l2tp.DataHeaderLen:], lcpEchoRequest)
	want(ServerL2TP, msg)

	// The call's IDs: PPP control frames now come as frames, IPv4 goes
	// to the TUN, data for another call is dropped.
	sp.SetSession(clientTunnel, clientSess, serverTunnel, serverSess)
	send(cli, sealPPP(t, lcpEchoRequest, cliOut, serverTunnel, serverSess))
	want(ServerPPP, lcpEchoRequest)
	pkt := ping(100, 7)
	send(cli, encapIPv4(t, pkt, cliOut, serverTunnel, serverSess))
	select {
	case p := <-tun.Inbound:
		if !bytes.Equal(p, pkt) {
			t.Fatalf("TUN got % x, want % x", p, pkt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing written to the TUN")
	}
	// Data for another call goes to Control too (the owner judges it);
	// a stranger's is dropped.
	send(cli, sealPPP(t, lcpEchoRequest, cliOut, serverTunnel, serverSess+1))
	l2tp.PutDataHeader(msg, serverTunnel, serverSess+1)
	want(ServerL2TP, msg)
	send(stranger, encapIPv4(t, pkt, cliOut, serverTunnel, serverSess))

	// TUN → client: ESP on the server's outbound SA, with the client's IDs.
	out := ping(200, 8)
	tun.Outbound <- out
	buf := make([]byte, maxPacket)
	type read struct {
		n    int
		from netip.AddrPort
		err  error
	}
	rc := make(chan read, 1)
	go func() {
		n, from, err := cli.ReadFromUDPAddrPort(buf)
		rc <- read{n, from, err}
	}()
	var r read
	select {
	case r = <-rc:
	case <-time.After(5 * time.Second):
		cli.Close() // ends the read
		<-rc
		t.Fatal("nothing sent to the client")
	}
	nr, from, err := r.n, r.from, r.err
	if err != nil {
		t.Fatal(err)
	}
	if from != serverNATT {
		t.Errorf("from %v, want %v", from, serverNATT)
	}
	kind, payload, err := decapsulate(buf[:nr], cliIn, clientTunnel, clientSess, nil)
	if err != nil || kind != kindIPv4 || !bytes.Equal(payload, out) {
		t.Fatalf("client got kind %v err %v % x, want the packet", kind, err, payload)
	}

	wantStats := ServerPathStats{OutPackets: 1, OutBytes: 200, InPackets: 1, InBytes: 100, Control: 5, Dropped: 1}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st := sp.Stats()
		if st == wantStats {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want %+v (the stranger's datagram dropped)", st, wantStats)
		}
	}
	select {
	case c := <-got:
		t.Errorf("unexpected control message %v % x", c.kind, c.msg)
	default:
	}
}
