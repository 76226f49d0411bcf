package tunnel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The control socket lets other processes ask a running connection for its
// Status and end it (l2tpctl status, l2tpctl disconnect). Run serves it when
// Config.ControlSocket is set.
//
// The protocol is one JSON object per line over a unix stream socket: the
// client sends one request and reads one reply, then closes.
//
//	→ {"request":"status"}      ← {"status":{…Status…}}
//	→ {"request":"disconnect"}  ← {"ok":true}   (once teardown has finished)
//	→ anything else             ← {"error":"…"}
//
// The socket is created 0600 in a directory created 0700: only its owner
// (root, for a real connection) may talk to it. A socket file left by a
// process that died is found by its refused connection and replaced.

// Control socket requests.
const (
	ctlStatus     = "status"
	ctlDisconnect = "disconnect"
)

// Control socket tunables.
const (
	ctlReadTimeout  = 5 * time.Second  // a client has this long to send its request
	ctlStatusWait   = 5 * time.Second  // a status request waits this long for the control loop
	ctlDialTimeout  = 2 * time.Second  // the client's connect
	ctlMaxLine      = 64 << 10         // longest request or reply line
	ctlWriteTimeout = 2 * time.Second  // a reply must be written within this
	ctlTeardownWait = 30 * time.Second // the longest a disconnect client waits by default
)

// ErrNotRunning is returned by QueryStatus and Disconnect when no connection
// serves the control socket (no socket file, or a stale one).
var ErrNotRunning = errors.New("no connection is running")

// ErrRunning is wrapped by Run's setup error when another process already
// serves Config.ControlSocket.
var ErrRunning = errors.New("a connection is already running")

// Status is a running connection's state as the control socket reports it.
// It holds nothing secret.
type Status struct {
	PID       int    `json:"pid"`
	State     string `json:"state"` // "connecting", "up", "closing", or "waiting" (to reconnect)
	Phase     string `json:"phase"` // the phase the connection is in
	Interface string `json:"interface"`
	Server    string `json:"server"` // IKE address and port

	UpSince       time.Time `json:"up_since,omitzero"` // when the link came up
	UptimeSeconds float64   `json:"uptime_seconds"`
	Local         string    `json:"local,omitempty"` // addresses from IPCP
	Peer          string    `json:"peer,omitempty"`
	DNS           []string  `json:"dns,omitempty"`
	Routes        []string  `json:"routes,omitempty"`
	Local6        string    `json:"local6,omitempty"` // IPv6 link-local addresses from IPv6CP
	Peer6         string    `json:"peer6,omitempty"`
	Routes6       []string  `json:"routes6,omitempty"`
	MTU           int       `json:"mtu,omitempty"`

	IKESuite string `json:"ike_suite,omitempty"` // e.g. "aes256-sha256-modp2048"
	ESPSuite string `json:"esp_suite,omitempty"` // e.g. "aes128-sha1"
	SPIIn    string `json:"spi_in,omitempty"`    // "0x" and 8 hex digits
	SPIOut   string `json:"spi_out,omitempty"`

	TxPackets uint64 `json:"tx_packets"` // IPv4 packets from the TUN sent to the server
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"` // IPv4 packets from the server written to the TUN
	RxBytes   uint64 `json:"rx_bytes"`
	TxDropped uint64 `json:"tx_dropped"`
	RxDropped uint64 `json:"rx_dropped"`
	// The drops by reason (docs/json.md has the names); zero counts are
	// left out. Received messages that a state machine ignored are counted
	// as ike_ignored, l2tp_ignored and ppp_ignored, and in RxDropped.
	TxDrops map[string]uint64 `json:"tx_drops,omitempty"`
	RxDrops map[string]uint64 `json:"rx_drops,omitempty"`

	Rekeys  int `json:"rekeys"`  // IPsec SAs replaced (Quick Mode re-keys, re-authentications too)
	Reauths int `json:"reauths"` // IKE SAs replaced by re-authentication
}

// ctlRequest and ctlReply are the protocol's lines.
type ctlRequest struct {
	Request string `json:"request"`
}

type ctlReply struct {
	Status *Status `json:"status,omitempty"`
	OK     bool    `json:"ok,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ctlServer serves the control socket of one Run.
type ctlServer struct {
	ln         *net.UnixListener
	path       string
	log        *Logger
	statusReq  chan chan Status // to the control loop; read in its select
	disconnect func()           // cancels the run
	done       chan struct{}    // closed by close when teardown has finished
	wg         sync.WaitGroup   // accept loop and handlers
}

// listenControl creates the control socket at path, replacing a stale one.
func listenControl(path string, log *Logger, disconnect func()) (*ctlServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	ln, err := net.ListenUnix("unix", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		conn, derr := net.DialTimeout("unix", path, ctlDialTimeout)
		if derr == nil {
			conn.Close()
			return nil, fmt.Errorf("%w (control socket %s)", ErrRunning, path)
		}
		if !errors.Is(derr, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("control socket %s: %w", path, derr)
		}
		log.infof("control: replacing the stale socket %s", path)
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
		ln, err = net.ListenUnix("unix", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &ctlServer{
		ln:         ln,
		path:       path,
		log:        log,
		statusReq:  make(chan chan Status),
		disconnect: disconnect,
		done:       make(chan struct{}),
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *ctlServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.errorf("control: accept: %v", err)
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.handle(conn)
		}()
	}
}

func (s *ctlServer) handle(conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(ctlReadTimeout))
	var req ctlRequest
	var reply ctlReply
	if err := readLine(conn, &req); err != nil {
		reply.Error = "bad request: " + err.Error()
	} else {
		reply = s.answer(req.Request)
	}
	b, _ := json.Marshal(reply)
	conn.SetWriteDeadline(time.Now().Add(ctlWriteTimeout))
	conn.Write(append(b, '\n'))
}

func (s *ctlServer) answer(request string) ctlReply {
	switch request {
	case ctlStatus:
		ch := make(chan Status, 1)
		timeout := time.NewTimer(ctlStatusWait)
		defer timeout.Stop()
		select {
		case s.statusReq <- ch:
		case <-s.done:
			return ctlReply{Error: "the connection has ended"}
		case <-timeout.C:
			return ctlReply{Error: "the control loop did not answer"}
		}
		st := <-ch // buffered, and the loop answers as it takes the request
		return ctlReply{Status: &st}
	case ctlDisconnect:
		s.log.infof("control: disconnect requested")
		s.disconnect()
		<-s.done
		return ctlReply{OK: true}
	}
	return ctlReply{Error: fmt.Sprintf("unknown request %q", request)}
}

// close ends the server once the run's teardown has finished: pending
// disconnect requests are answered, and the socket file is removed.
func (s *ctlServer) close() {
	close(s.done)
	s.ln.Close() // removes the socket file
	s.wg.Wait()
}

// readLine decodes one JSON line from r into v.
func readLine(r interface{ Read([]byte) (int, error) }, v any) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), ctlMaxLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return err
		}
		return errors.New("connection closed without a line")
	}
	return json.Unmarshal(sc.Bytes(), v)
}

// QueryStatus asks the connection serving the control socket at path for
// its Status. It returns an error wrapping ErrNotRunning when nothing
// serves the socket.
func QueryStatus(ctx context.Context, path string) (Status, error) {
	r, err := ctlCall(ctx, path, ctlStatus)
	if err != nil {
		return Status{}, err
	}
	if r.Status == nil {
		return Status{}, errors.New("control: reply without a status")
	}
	return *r.Status, nil
}

// Disconnect asks the connection serving the control socket at path to end
// and returns once its teardown has finished (or ctx ends). It returns an
// error wrapping ErrNotRunning when nothing serves the socket.
func Disconnect(ctx context.Context, path string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ctlTeardownWait)
		defer cancel()
	}
	_, err := ctlCall(ctx, path, ctlDisconnect)
	return err
}

func ctlCall(ctx context.Context, path, request string) (ctlReply, error) {
	dctx, cancel := context.WithTimeout(ctx, ctlDialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return ctlReply{}, fmt.Errorf("%w (no one serves %s)", ErrNotRunning, path)
		}
		return ctlReply{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(ctlRequest{Request: request})
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return ctlReply{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	var r ctlReply
	if err := readLine(conn, &r); err != nil {
		if ctx.Err() != nil {
			return ctlReply{}, fmt.Errorf("control socket %s: %w", path, ctx.Err())
		}
		return ctlReply{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	if r.Error != "" {
		return ctlReply{}, fmt.Errorf("control socket %s: %s", path, r.Error)
	}
	return r, nil
}

// status is the connection's Status now. Called by the control goroutine.
func (c *controller) status() Status {
	now := c.deps.Clock.Now()
	st := Status{
		PID:       os.Getpid(),
		State:     "connecting",
		Phase:     c.phase.String(),
		Interface: c.cfg.Interface,
		Server:    c.server.String(),
		IKESuite:  c.ikeSuite,
		Rekeys:    c.rekeys,
		Reauths:   c.reauths,
	}
	switch {
	case c.closing != closeNone:
		st.State = "closing"
	case c.phase == PhaseConnected:
		st.State = "up"
	}
	if l := c.link; l != nil {
		st.UpSince = c.upAt
		st.UptimeSeconds = now.Sub(c.upAt).Seconds()
		st.Local = l.Local.String()
		if l.Peer.IsValid() {
			st.Peer = l.Peer.String()
		}
		for _, a := range l.DNS {
			st.DNS = append(st.DNS, a.String())
		}
		for _, r := range l.Routes {
			st.Routes = append(st.Routes, r.String())
		}
		if l.Local6.IsValid() {
			st.Local6 = l.Local6.String()
			if l.Peer6.IsValid() {
				st.Peer6 = l.Peer6.String()
			}
			for _, r := range l.Routes6 {
				st.Routes6 = append(st.Routes6, r.String())
			}
		}
		st.MTU = l.MTU
	}
	if sa := c.outSA; sa != nil {
		st.ESPSuite = sa.Transform().String()
		st.SPIOut = fmt.Sprintf("0x%08x", sa.SPI())
	}
	if n := len(c.ike.inSPIs); n > 0 {
		st.SPIIn = fmt.Sprintf("0x%08x", c.ike.inSPIs[n-1])
	}
	d := c.dp.stats()
	st.TxPackets, st.TxBytes, st.RxPackets, st.RxBytes = d.TxPackets, d.TxBytes, d.RxPackets, d.RxBytes
	tx := d.txDrops()
	rx := append(d.rxDrops(), dropCount{"ike_ignored", c.drops.ike},
		dropCount{"l2tp_ignored", c.drops.l2tp}, dropCount{"ppp_ignored", c.drops.ppp})
	st.TxDropped, st.TxDrops = sumDrops(tx), dropMap(tx)
	st.RxDropped, st.RxDrops = sumDrops(rx), dropMap(rx)
	return st
}

// dropMap is l without its zero counts, as a map; nil if all are zero.
func dropMap(l []dropCount) map[string]uint64 {
	var m map[string]uint64
	for _, d := range l {
		if d.N == 0 {
			continue
		}
		if m == nil {
			m = map[string]uint64{}
		}
		m[d.Reason] = d.N
	}
	return m
}
