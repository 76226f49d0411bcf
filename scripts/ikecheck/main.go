// Command ikecheck asks whether an IKEv1 responder answers on SERVER:PORT:
// it sends one ISAKMP Main Mode message 1 (RFC 2409 §5) from a random local
// UDP port and waits for a Main Mode message 2 that accepts it. It is the
// SoftEther test peer's health check (scripts/peer-up.sh), a test tool and
// not part of l2tpctl.
//
// Message 1 is the one l2tpctl sends: proto/isakmp's Initiator builds it
// (l2tpctl's proposals, the RFC 3947 NAT-T vendor IDs without which
// SoftEther drops it) and judges the answer. Message 2 is accepted when the
// Initiator takes it and would go on with message 3, which ikecheck does
// not send: the server is left with a half-open exchange that it forgets by
// itself, as after any lost client. Message 1 is retransmitted on the
// Initiator's schedule (after --interval, then doubling) until --timeout.
//
// Usage:
//
//	ikecheck [-q] [--timeout 3s] [--interval 1s] [--port 500] SERVER[:PORT]
//
// Exit status: 0 when message 2 arrived; 1 when the server refused (an
// error notify such as NO-PROPOSAL-CHOSEN, or an answer l2tpctl would not
// accept), nothing answered within the timeout (ICMP port unreachable
// included), or a local error; 2 for usage errors. Run it in the client's
// network namespace, for example
//
//	ip netns exec l2tp-cli ikecheck 10.200.0.1
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// seconds is a flag value given as seconds ("3", "0.5") or as a Go
// duration ("3s", "500ms").
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }

func (s *seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		*s = seconds(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("want seconds (3, 0.5) or a duration (3s, 500ms)")
	}
	*s = seconds(d)
	return nil
}

// errUsage: the flag package has already printed the error and the usage.
var errUsage = errors.New("usage")

type options struct {
	server   string
	port     uint
	timeout  time.Duration
	interval time.Duration
	quiet    bool
}

// parse reads the command line. Flags may come before or after SERVER.
func parse(args []string, stderr io.Writer) (options, error) {
	o := options{port: 500}
	timeout, interval := seconds(3*time.Second), seconds(time.Second)
	fs := flag.NewFlagSet("ikecheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ikecheck [-q] [--timeout 3s] [--interval 1s] [--port 500] SERVER[:PORT]\n\n"+
			"Sends one IKEv1 Main Mode message 1 and exits 0 when the server answers with a\n"+
			"Main Mode message 2 that accepts it, 1 otherwise, 2 for usage errors.\n\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.quiet, "q", false, "print nothing; the exit status tells")
	fs.BoolVar(&o.quiet, "quiet", false, "same as -q")
	fs.UintVar(&o.port, "port", 500, "IKE port of the server (SERVER:PORT overrides it)")
	fs.Var(&timeout, "timeout", "how long to wait for the answer in all")
	fs.Var(&interval, "interval", "first retransmission of message 1 after this long, then doubling")
	var rest []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return o, err
		} else if err != nil {
			return o, errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		return o, fmt.Errorf("want exactly one SERVER, got %d (-h for help)", len(rest))
	}
	o.server = rest[0]
	if host, port, err := net.SplitHostPort(o.server); err == nil {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return o, fmt.Errorf("bad port in %q", o.server)
		}
		o.server, o.port = host, uint(p)
	}
	o.timeout, o.interval = time.Duration(timeout), time.Duration(interval)
	switch {
	case o.port == 0 || o.port > 65535:
		return o, fmt.Errorf("bad port %d", o.port)
	case o.timeout <= 0 || o.interval <= 0:
		return o, errors.New("--timeout and --interval must be positive")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "ikecheck: %v\n", err)
		}
		return exitUsage
	}
	say := func(w io.Writer, format string, a ...any) {
		if !o.quiet {
			fmt.Fprintf(w, "ikecheck: "+format+"\n", a...)
		}
	}
	msg, status := check(o)
	if status == exitOK {
		say(stdout, "%s", msg)
	} else {
		say(stderr, "%s", msg)
	}
	return status
}

// check sends message 1 and waits for the answer; it returns what to
// print and the exit status.
func check(o options) (string, int) {
	raddr, err := net.ResolveUDPAddr("udp4", net.JoinHostPort(o.server, strconv.Itoa(int(o.port))))
	if err != nil {
		return fmt.Sprintf("cannot resolve %s: %v", o.server, err), exitFail
	}
	server := raddr.AddrPort()
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	// A connected socket on a random port: only the server's datagrams
	// arrive, and ICMP port unreachable comes back as ECONNREFUSED.
	conn, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		return fmt.Sprintf("cannot open a UDP socket towards %v: %v", server, err), exitFail
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())

	in, err := isakmp.NewInitiator(isakmp.Config{
		// Main Mode messages 1 and 2 use no key: any PSK will do.
		PSK:            []byte("ikecheck"),
		Rand:           rand.Reader,
		Local:          local,
		Remote:         server,
		RetransmitBase: o.interval,
		// More than fit in the timeout: the timeout ends the wait.
		MaxRetransmits: int(o.timeout/o.interval) + 2,
	})
	if err != nil {
		return err.Error(), exitFail
	}

	start := time.Now()
	deadline := start.Add(o.timeout)
	sent, refused := 0, false
	send := func(acts []isakmp.Action) error {
		for _, a := range acts {
			s, ok := a.(isakmp.Send)
			if !ok {
				continue
			}
			if _, err := conn.Write(s.Data); err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					refused = true // an earlier message's ICMP error
					continue
				}
				return err
			}
			sent++
		}
		return nil
	}
	if err := send(in.Start(start)); err != nil {
		return fmt.Sprintf("sending to %v: %v", server, err), exitFail
	}
	buf := make([]byte, 65536)
	for {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		if d := in.Deadline(); !d.IsZero() && !now.Before(d) {
			acts := in.Tick(now)
			if err := failure(acts); err != nil {
				break // retransmissions used up: the same as a timeout
			}
			if err := send(acts); err != nil {
				return fmt.Sprintf("sending to %v: %v", server, err), exitFail
			}
			continue
		}
		wake := deadline
		if d := in.Deadline(); !d.IsZero() && d.Before(wake) {
			wake = d
		}
		conn.SetReadDeadline(wake)
		n, err := conn.Read(buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case errors.Is(err, syscall.ECONNREFUSED):
			// Nothing listens (yet): keep trying until the timeout, as a
			// server that is starting up may open its port any moment.
			refused = true
			continue
		case err != nil:
			return fmt.Sprintf("receiving from %v: %v", server, err), exitFail
		}
		reply := buf[:n]
		acts := in.Handle(time.Now(), reply)
		if err := failure(acts); err != nil {
			return fmt.Sprintf("%v refused Main Mode message 1 after %v (%d sent): %v",
				server, ms(time.Since(start)), sent, err), exitFail
		}
		if accepted(acts) {
			var h isakmp.Header
			h.UnmarshalBinary(reply)
			return fmt.Sprintf("%v answered after %v (%d sent): Main Mode message 2, %d bytes, responder cookie %x",
				server, ms(time.Since(start)), sent, n, h.RCookie), exitOK
		}
		// Anything else (another exchange, a duplicate, junk, an action
		// this tool does not know) is not the answer yet.
	}
	why := ""
	if refused {
		why = fmt.Sprintf("nothing listens on %v (ICMP port unreachable); ", server)
	}
	return fmt.Sprintf("%sno Main Mode answer from %v within %v (%d sent, local port %d)",
		why, server, o.timeout, sent, local.Port()), exitFail
}

// failure returns the error of a Fail among acts.
func failure(acts []isakmp.Action) error {
	for _, a := range acts {
		if f, ok := a.(isakmp.Fail); ok {
			return f.Err
		}
	}
	return nil
}

// accepted reports whether the Initiator took message 2: it would now send
// message 3.
func accepted(acts []isakmp.Action) bool {
	for _, a := range acts {
		if _, ok := a.(isakmp.Send); ok {
			return true
		}
	}
	return false
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
