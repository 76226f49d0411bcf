package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Microsecond
	}
	for _, tc := range []struct {
		d    []time.Duration
		p    int
		want time.Duration
	}{
		{d, 50, 50 * time.Microsecond},
		{d, 99, 99 * time.Microsecond},
		{d, 100, 100 * time.Microsecond},
		{d[:1], 99, time.Microsecond},
		{d[:10], 99, 10 * time.Microsecond},
		{d[:10], 50, 5 * time.Microsecond},
	} {
		if got := percentile(tc.d, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %d) = %v, want %v", len(tc.d), tc.p, got, tc.want)
		}
	}
}

// TestSummarizeJSON feeds summarize two rounds of made-up results and
// checks the medians, the per-round ratios, CPU per GB and the connect time
// read from l2tpctl's events.
func TestSummarizeJSON(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	iperf := func(name string, mbit, retrans float64) string {
		// 1 GB received, whatever the rate.
		return write(name, fmt.Sprintf(`{"end":{"sum_sent":{"bytes":1e9,"retransmits":%g},"sum_received":{"bytes":1e9,"bits_per_second":%g}}}`, retrans, mbit*1e6))
	}
	events := write("ev.log", `{"time":"2026-12-03T06:00:00.000Z","event":"phase","phase":"setup","state":"started"}
l2tpctl: a log line
{"time":"2026-12-03T06:00:00.002Z","event":"phase","phase":"ike","state":"started"}
{"time":"2026-12-03T06:00:00.014Z","event":"phase","phase":"l2tp-session","state":"done"}
{"time":"2026-12-03T06:00:00.020Z","event":"up"}
`)
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	add(`{"kind":"meta","date":"2026-12-03T06:00:00Z","load":"7.0 7.0 7.0","cpus":2,"rounds":2,"seconds":5}`)
	for r, v := range []float64{1000, 2000} { // veth Mbit/s by round
		add(`{"kind":"tcp","round":%d,"mode":"veth","suite":"","streams":1,"iperf":%q,"client_cpu_s":0,"peer_cpu_s":0,"client_rss_kb":0}`, r+1, iperf(fmt.Sprint("v", r), v, 1))
		add(`{"kind":"rtt","round":%d,"mode":"veth","suite":"","p50_us":%d,"p99_us":%d}`, r+1, 20+r*10, 100)
	}
	for r, v := range []float64{100, 300} { // tunnel: ratios 0.1 and 0.15
		add(`{"kind":"connect","round":%d,"suite":"aes128-sha1","events":%q}`, r+1, events)
		add(`{"kind":"tcp","round":%d,"mode":"tunnel","suite":"aes128-sha1","streams":1,"iperf":%q,"client_cpu_s":%d,"peer_cpu_s":4,"client_rss_kb":12288}`, r+1, iperf(fmt.Sprint("t", r), v, 7), 8+r*2)
		add(`{"kind":"rtt","round":%d,"mode":"tunnel","suite":"aes128-sha1","p50_us":200,"p99_us":%d}`, r+1, 400+r*200)
		add(`{"kind":"drops","round":%d,"suite":"aes128-sha1","drops":[%d,0,3,0]}`, r+1, 10+r*10)
	}
	res := write("results.jsonl", strings.Join(lines, "\n")+"\n")

	var out bytes.Buffer
	if err := summarize([]string{"-json", res}, &out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Veth   map[string]float64
		Tunnel []map[string]any
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for k, want := range map[string]float64{"tcp_mbit": 1500, "tcp_mbit_min": 1000, "tcp_mbit_max": 2000, "rtt_us_p50": 25, "rtt_us_p99": 100} {
		if doc.Veth[k] != want {
			t.Errorf("veth %s = %v, want %v", k, doc.Veth[k], want)
		}
	}
	if len(doc.Tunnel) != 1 {
		t.Fatalf("tunnel entries: %d, want 1\n%s", len(doc.Tunnel), out.String())
	}
	for k, want := range map[string]any{
		"suite": "aes128-sha1", "streams": 1.0, "tcp_mbit": 200.0,
		"ratio": 0.125, "ratio_min": 0.1, "ratio_max": 0.15,
		"retransmits": 7.0, "client_cpu_s_per_gb": 9.0, "peer_cpu_s_per_gb": 4.0, "client_max_rss_mb": 12.0,
		"rtt_us_p50": 200.0, "rtt_us_p99": 500.0, "rtt_us_p99_max": 600.0,
		"connect_ms": 12.0, "up_ms": 18.0,
		"client_udp_rcvbuf_drops": 15.0, "client_udp_rcvbuf_drops_max": 20.0, "peer_udp_rcvbuf_drops": 0.0, "client_tun_drops": 3.0,
	} {
		if doc.Tunnel[0][k] != want {
			t.Errorf("tunnel %s = %v, want %v", k, doc.Tunnel[0][k], want)
		}
	}

	// The table has a row per path and streams.
	out.Reset()
	if err := summarize([]string{res}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| aes128-sha1 | 1 | 200 [100–300] | 0.125 [0.1–0.15] |") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestSummarizeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"kind":"tcp","iperf":"/nonexistent"}`+"\n"), 0o644)
	noUp := filepath.Join(dir, "ev.log")
	os.WriteFile(noUp, []byte(`{"time":"2026-12-03T06:00:00.002Z","event":"phase","phase":"ike","state":"started"}`+"\n"), 0o644)
	conn := filepath.Join(dir, "conn.jsonl")
	os.WriteFile(conn, []byte(fmt.Sprintf(`{"kind":"connect","events":%q}`+"\n", noUp)), 0o644)
	for _, f := range []string{bad, conn, filepath.Join(dir, "missing")} {
		if err := summarize([]string{f}, new(bytes.Buffer)); err == nil {
			t.Errorf("summarize(%s): no error", filepath.Base(f))
		}
	}
}
