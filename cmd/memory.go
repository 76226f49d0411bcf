package cmd

import (
	"sync"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// Memory of the long-running connect process.
//
// Once the link is up, l2tpctl allocates little: the data path reuses its
// packet buffers, and what the control goroutine allocates (about 20 KB per
// Quick Mode, more per IKE re-authentication: DH, key derivation, the
// messages, log lines) adds up to a few KB a second even with the shortest
// lifetimes. That is far below the Go heap's goal (at least 4 MB), so
// the collector runs only when the runtime forces it, every two minutes, and
// the runtime hands no freed page back to the kernel while the heap is below
// about that goal: RSS climbed towards the goal by about 370 KB a minute under
// --sa-lifetime 10s --ike-lifetime 1m (docs/reliability.md, "Memory").
//
// So connect returns freed memory to the kernel after the events that
// produce the garbage: when the link comes up (the bring-up's parsing,
// key exchanges, netlink), after every re-key and re-authentication, and
// every memoryReleaseEvery. debug.FreeOSMemory is a full collection plus
// the release of every free page: with l2tpctl's small heap (2–3 MB, most
// of it packet buffers the kernel has barely touched) under a millisecond
// of CPU, and the data path is only stopped for the collection's short
// stop-the-world phases. A re-key happens at most every 8.5 s
// (--sa-lifetime is at least 10 s; an hour by default), the periodic
// release every 10 minutes: never per packet. It runs on a goroutine of
// its own, so neither the control goroutine nor the readiness report waits
// for it, and requests that come while one runs are merged into the next.
//
// A lower heap goal (debug.SetMemoryLimit, GOGC) would bound RSS too,
// but a fixed limit either is above the few MB that matter here or makes
// the collector run constantly when a --netstack proxy or a bulk transfer
// needs more for a while; releasing after rare events costs the data
// path only those short pauses and adapts to whatever the heap needed in between.

// memoryReleaseEvery is how often connect releases memory besides after
// those events. With the default lifetimes a re-key comes only every ~51
// minutes; in between, the periodic control traffic (LCP echoes, L2TP
// HELLOs, keepalives, status queries) leaves garbage too, slowly.
const memoryReleaseEvery = 10 * time.Minute

// memoryReleaser calls release on a goroutine of its own when asked to,
// and every interval.
type memoryReleaser struct {
	req  chan struct{} // buffered 1: a pending request
	done chan struct{} // closed by stop
	wg   sync.WaitGroup
}

// newMemoryReleaser starts the goroutine; release nil gives a releaser
// that does nothing (tests, and platforms or callers that do not want it).
// every 0 means no periodic release.
func newMemoryReleaser(release func(), every time.Duration) *memoryReleaser {
	m := &memoryReleaser{req: make(chan struct{}, 1), done: make(chan struct{})}
	if release == nil {
		return m
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		var tick <-chan time.Time // nil: never
		if every > 0 {
			t := time.NewTicker(every)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-m.req:
				release()
			case <-tick:
				release()
			case <-m.done:
				return
			}
		}
	}()
	return m
}

// event asks for a release after the events that leave garbage behind:
// the link up, an IPsec re-key, an IKE re-authentication. It never blocks.
func (m *memoryReleaser) event(ev tunnel.Event) {
	if ev.Kind != tunnel.EventUp && ev.Kind != tunnel.EventRekey {
		return
	}
	select {
	case m.req <- struct{}{}:
	default: // one is pending already
	}
}

// stop ends the goroutine (a pending request is dropped: the process is
// about to exit) and waits for it.
func (m *memoryReleaser) stop() {
	close(m.done)
	m.wg.Wait()
}
