package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"slices"
	"time"
)

// udpEcho sends every datagram back to where it came from, until killed.
func udpEcho(args []string) error {
	fs := flag.NewFlagSet("udpecho", flag.ContinueOnError)
	addr := fs.String("addr", ":9007", "`address:port` to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := net.ListenPacket("udp4", *addr)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		c.WriteTo(buf[:n], from)
	}
}

// udpPing measures n request/response round trips of size-byte UDP
// datagrams, one at a time (the link is otherwise idle), and prints the
// 50th and 99th percentiles in microseconds. A reply that does not come
// within a second counts as lost; more than 1 % lost is an error.
func udpPing(args []string) error {
	fs := flag.NewFlagSet("udpping", flag.ContinueOnError)
	to := fs.String("to", "", "echo server `address:port`")
	n := fs.Int("n", 1000, "round trips")
	size := fs.Int("size", 200, "UDP payload `bytes`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *size < 8 {
		return fmt.Errorf("size %d: at least 8", *size)
	}
	c, err := net.Dial("udp4", *to)
	if err != nil {
		return err
	}
	defer c.Close()
	req, resp := make([]byte, *size), make([]byte, 1<<16)
	rtts := make([]time.Duration, 0, *n)
	lost := 0
	for i := range *n {
		binary.BigEndian.PutUint64(req, uint64(i))
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			return err
		}
		c.SetReadDeadline(t0.Add(time.Second))
		for {
			m, err := c.Read(resp)
			if err != nil {
				lost++
				break
			}
			if m == *size && binary.BigEndian.Uint64(resp) == uint64(i) {
				rtts = append(rtts, time.Since(t0))
				break
			}
		}
	}
	if len(rtts) == 0 || lost*100 > *n {
		return fmt.Errorf("%d of %d round trips lost", lost, *n)
	}
	slices.Sort(rtts)
	fmt.Printf("p50_us %.1f p99_us %.1f n %d lost %d\n",
		us(percentile(rtts, 50)), us(percentile(rtts, 99)), len(rtts), lost)
	return nil
}

// percentile returns the p-th percentile (nearest rank) of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	i := (len(d)*p + 99) / 100 // ceil(len·p/100), the nearest rank
	if i < 1 {
		i = 1
	}
	return d[i-1]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
