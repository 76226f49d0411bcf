package cmd

import (
	"sync"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// Memory of the long-running connect process.
//
// Once the link is up, l2tpctl allocates little: the data path reuses its
// packet buffers, and what the control goroutine allocates (about 10 KB per
// IPsec re-key, more per IKE re-authentication: DH, key derivation, the
// messages, a log line) adds up to a few KB a second even with the shortest
// lifetimes. That is far below the Go heap's goal (at least 4 MB), so
// the collector runs only when the runtime forces it, every two minutes, and
// the runtime hands no freed page back to the kernel while the heap is below
// that goal: RSS climbed towards the goal by about 370 KB a minute under
// --sa-lifetime 10s --ike-lifetime 1m (docs/reliability.md, "Memory").
//
// So connect returns freed memory to the kernel after the events that
// produce the garbage: when the link comes up (the bring-up's parsing,
// key exchanges, netlink) and after every re-key and re-authentication.
// debug.FreeOSMemory is a full collection plus the release of every free
// page: with l2tpctl's small heap (2–3 MB, most of it packet buffers the
// kernel has barely touched) about a millisecond of CPU, and the data path
// is only stopped for the collection's short stop-the-world phases. A
// re-key happens at most every few seconds (--sa-lifetime is at least
// 10 s; an hour by default), never per packet. It runs on a goroutine of its
// own, so neither the control goroutine nor the readiness report waits for
// it, and requests that come while one runs are merged into the next.
//
// A lower heap goal (debug.SetMemoryLimit, GOGC) would bound RSS too,
// but a fixed limit either is above the few MB that matter here or makes
// the collector run constantly when a --netstack proxy or a bulk transfer
// needs more for a while; releasing after rare events costs nothing on
// the data path and adapts to whatever the heap needed in between.

// memoryReleaser calls release on a goroutine of its own when asked to.
type memoryReleaser struct {
	req  chan struct{} // buffered 1: a pending request
	done chan struct{} // closed by stop
	wg   sync.WaitGroup
}

// newMemoryReleaser starts the goroutine; release nil gives a releaser
// that does nothing (tests, and platforms or callers that do not want it).
func newMemoryReleaser(release func()) *memoryReleaser {
	m := &memoryReleaser{req: make(chan struct{}, 1), done: make(chan struct{})}
	if release == nil {
		return m
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			select {
			case <-m.req:
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
