package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// record is one line of the script's results file (JSON lines).
//
//	{"kind":"meta", "date":…, "load":…, "cpus":…, "rounds":…, "seconds":…}
//	{"kind":"tcp", "round":1, "mode":"veth"|"tunnel", "suite":…, "streams":1,
//	 "iperf":"FILE" (iperf3 --json), "client_cpu_s":…, "peer_cpu_s":…, "client_rss_kb":…}
//	{"kind":"rtt", "round":1, "mode":…, "suite":…, "p50_us":…, "p99_us":…}
//	{"kind":"connect", "round":1, "suite":…, "events":"FILE" (l2tpctl --json)}
//	{"kind":"drops", "round":1, "suite":…, "drops":[client UDP, peer UDP, client TUN, peer TUN]}
type record struct {
	Kind    string    `json:"kind"`
	Round   int       `json:"round"`
	Mode    string    `json:"mode"`
	Suite   string    `json:"suite"`
	Streams int       `json:"streams"`
	Iperf   string    `json:"iperf"`
	CPU     float64   `json:"client_cpu_s"`
	PeerCPU float64   `json:"peer_cpu_s"`
	RSSKB   float64   `json:"client_rss_kb"`
	P50     float64   `json:"p50_us"`
	P99     float64   `json:"p99_us"`
	Events  string    `json:"events"`
	Drops   []float64 `json:"drops"`

	Date    string `json:"date"`
	Load    string `json:"load"`
	CPUs    int    `json:"cpus"`
	Rounds  int    `json:"rounds"`
	Seconds int    `json:"seconds"`
}

// iperfResult is the part of iperf3 --json that the summary reads.
type iperfResult struct {
	End struct {
		SumSent struct {
			Bytes       float64 `json:"bytes"`
			Retransmits float64 `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// series collects one figure over the rounds.
type series []float64

func (s series) stat() (med, lo, hi float64) {
	if len(s) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	v := slices.Clone(s)
	slices.Sort(v)
	n := len(v)
	med = v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return med, v[0], v[n-1]
}

// put adds name, name_min and name_max to m (rounded to 0.1), unless s is
// empty.
func (s series) put(m map[string]any, name string) {
	if len(s) == 0 {
		return
	}
	med, lo, hi := s.stat()
	m[name], m[name+"_min"], m[name+"_max"] = round1(med), round1(lo), round1(hi)
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

type key struct {
	mode, suite string
	streams     int
}

type figures struct {
	mbit, retrans, cpuGB, peerGB, rssMB, ratio series
	p50, p99, connect, up                      series
	drops                                      [4]series // dropDetails
}

// dropDetails name the drop counters of a "drops" record, in its order.
var dropDetails = [4]string{"client_udp_rcvbuf_drops", "peer_udp_rcvbuf_drops", "client_tun_drops", "peer_tun_drops"}

func summarize(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("summarize", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON document instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one results file")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	var meta record
	fig := map[key]*figures{}
	get := func(k key) *figures {
		if fig[k] == nil {
			fig[k] = &figures{}
		}
		return fig[k]
	}
	var suites []string
	vethMbit := map[[2]int]float64{} // (round, streams) → veth Mbit/s
	type tunnelRun struct {
		k     key
		round int
		mbit  float64
	}
	var runs []tunnelRun
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s:%d: %w", fs.Arg(0), line, err)
		}
		if r.Mode == "tunnel" && !slices.Contains(suites, r.Suite) {
			suites = append(suites, r.Suite)
		}
		switch r.Kind {
		case "meta":
			meta = r
		case "tcp":
			ip, err := readIperf(r.Iperf)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", fs.Arg(0), line, err)
			}
			k := key{r.Mode, r.Suite, r.Streams}
			g := get(k)
			mbit := ip.End.SumReceived.BitsPerSecond / 1e6
			g.mbit = append(g.mbit, mbit)
			g.retrans = append(g.retrans, ip.End.SumSent.Retransmits)
			if gb := ip.End.SumReceived.Bytes / 1e9; gb > 0 && r.Mode == "tunnel" {
				g.cpuGB = append(g.cpuGB, r.CPU/gb)
				g.peerGB = append(g.peerGB, r.PeerCPU/gb)
			}
			if r.RSSKB > 0 {
				g.rssMB = append(g.rssMB, r.RSSKB/1024)
			}
			if r.Mode == "veth" {
				vethMbit[[2]int{r.Round, r.Streams}] = mbit
			} else {
				runs = append(runs, tunnelRun{k, r.Round, mbit})
			}
		case "rtt":
			g := get(key{r.Mode, r.Suite, 0})
			g.p50 = append(g.p50, r.P50)
			g.p99 = append(g.p99, r.P99)
		case "drops":
			if len(r.Drops) != len(dropDetails) {
				return fmt.Errorf("%s:%d: want %d drop counters", fs.Arg(0), line, len(dropDetails))
			}
			g := get(key{"tunnel", r.Suite, 0})
			for i, d := range r.Drops {
				g.drops[i] = append(g.drops[i], d)
			}
		case "connect":
			c, u, err := connectTimes(r.Events)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", fs.Arg(0), line, err)
			}
			g := get(key{"tunnel", r.Suite, 0})
			g.connect = append(g.connect, c)
			g.up = append(g.up, u)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	// Ratios within a round: the tunnel against raw veth just before it.
	for _, t := range runs {
		if v := vethMbit[[2]int{t.round, t.k.streams}]; v > 0 {
			g := get(t.k)
			g.ratio = append(g.ratio, t.mbit/v)
		}
	}

	veth := map[string]any{}
	if g := fig[key{"veth", "", 1}]; g != nil {
		g.mbit.put(veth, "tcp_mbit")
		g.retrans.put(veth, "retransmits")
	}
	if g := fig[key{"veth", "", 4}]; g != nil {
		g.mbit.put(veth, "tcp4_mbit")
		g.retrans.put(veth, "retransmits4")
	}
	if g := fig[key{"veth", "", 0}]; g != nil {
		g.p50.put(veth, "rtt_us_p50")
		g.p99.put(veth, "rtt_us_p99")
	}
	var tunnel []map[string]any
	for _, s := range suites {
		per := fig[key{"tunnel", s, 0}]
		for _, n := range []int{1, 4} {
			g := fig[key{"tunnel", s, n}]
			if g == nil {
				continue
			}
			m := map[string]any{"suite": s, "streams": n, "rounds": len(g.mbit)}
			g.mbit.put(m, "tcp_mbit")
			if len(g.ratio) > 0 {
				med, lo, hi := g.ratio.stat()
				m["ratio"], m["ratio_min"], m["ratio_max"] = math.Round(med*1000)/1000, math.Round(lo*1000)/1000, math.Round(hi*1000)/1000
			}
			g.retrans.put(m, "retransmits")
			g.cpuGB.put(m, "client_cpu_s_per_gb")
			g.peerGB.put(m, "peer_cpu_s_per_gb")
			g.rssMB.put(m, "client_max_rss_mb")
			if per != nil {
				per.p50.put(m, "rtt_us_p50")
				per.p99.put(m, "rtt_us_p99")
				per.connect.put(m, "connect_ms")
				per.up.put(m, "up_ms")
				for i, name := range dropDetails {
					per.drops[i].put(m, name)
				}
			}
			tunnel = append(tunnel, m)
		}
	}
	if *asJSON {
		doc := map[string]any{
			"date": meta.Date, "load": meta.Load, "cpus": meta.CPUs,
			"rounds": meta.Rounds, "seconds": meta.Seconds,
			"veth": veth, "tunnel": tunnel,
		}
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(doc)
	}
	fmt.Fprintf(w, "# %s, %d CPUs, load %s; %d rounds of %d s per iperf3 run; median [min–max]\n",
		meta.Date, meta.CPUs, meta.Load, meta.Rounds, meta.Seconds)
	fmt.Fprintln(w, "| path | streams | TCP Mbit/s | × veth | retransmits | client CPU-s/GB | peer CPU-s/GB | client max RSS MB | RTT p50 µs | RTT p99 µs | IKE+QM+L2TP ms | up ms | drops UDP client/peer, TUN client/peer |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range []int{1, 4} {
		m := map[string]any{}
		if g := fig[key{"veth", "", n}]; g != nil {
			g.mbit.put(m, "tcp_mbit")
			g.retrans.put(m, "retransmits")
		}
		fmt.Fprintf(w, "| veth | %d | %s | 1 | %s | | | | %s | %s | | | |\n", n, cell(m, "tcp_mbit"), cell(m, "retransmits"),
			cell(veth, "rtt_us_p50"), cell(veth, "rtt_us_p99"))
	}
	for _, m := range tunnel {
		var drops []string
		for _, name := range dropDetails {
			drops = append(drops, fmt.Sprint(m[name]))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			m["suite"], m["streams"], cell(m, "tcp_mbit"), cell(m, "ratio"), cell(m, "retransmits"),
			cell(m, "client_cpu_s_per_gb"), cell(m, "peer_cpu_s_per_gb"), cell(m, "client_max_rss_mb"),
			cell(m, "rtt_us_p50"), cell(m, "rtt_us_p99"), cell(m, "connect_ms"), cell(m, "up_ms"), strings.Join(drops, "/"))
	}
	return nil
}

// cell formats name as "median [min–max]", or "" when absent.
func cell(m map[string]any, name string) string {
	v, ok := m[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%v [%v–%v]", v, m[name+"_min"], m[name+"_max"])
}

func readIperf(file string) (iperfResult, error) {
	var r iperfResult
	b, err := os.ReadFile(file)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", file, err)
	}
	if r.Error != "" {
		return r, fmt.Errorf("%s: iperf3: %s", file, r.Error)
	}
	return r, nil
}

// connectTimes reads l2tpctl's JSON events (docs/json.md) and returns the
// milliseconds from the start of phase ike to the end of phase
// l2tp-session (IKE + Quick Mode + L2TP), and to the up event (PPP and the
// interface too).
func connectTimes(file string) (connect, up float64, err error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var start, l2tp, upAt time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct {
			Time  time.Time `json:"time"`
			Event string    `json:"event"`
			Phase string    `json:"phase"`
			State string    `json:"state"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // not an event (a log line)
		}
		switch {
		case ev.Event == "phase" && ev.Phase == "ike" && ev.State == "started" && start.IsZero():
			start = ev.Time
		case ev.Event == "phase" && ev.Phase == "l2tp-session" && ev.State == "done":
			l2tp = ev.Time
		case ev.Event == "up":
			upAt = ev.Time
		}
	}
	if start.IsZero() || l2tp.IsZero() || upAt.IsZero() {
		return 0, 0, fmt.Errorf("%s: no ike start, l2tp-session done and up events", file)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return ms(l2tp.Sub(start)), ms(upAt.Sub(start)), nil
}
