package tunnel

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goroutineLeakCheck records the goroutines running now and, when the test
// has finished (its cleanup is registered first, so it runs after every
// cleanup the test registers later, such as closing the fake server), waits
// up to 2 s for every goroutine started since to end. Otherwise it fails
// the test and prints their stacks. Call it first thing in every end-to-end
// test (after wireguard-go's goroutineLeakCheck). Tests that use it
// must not run in parallel with others.
func goroutineLeakCheck(t *testing.T) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			leaked := newGoroutines(before, goroutines())
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutine(s) still running 2 s after the test:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// goroutines returns the stack of every goroutine, keyed by its header line
// "goroutine N [...]" minus the state, i.e. by "goroutine N".
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	m := make(map[string]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		s := strings.TrimSpace(string(g))
		if s == "" {
			continue
		}
		head, _, _ := strings.Cut(s, "\n")
		id, _, _ := strings.Cut(head, " [")
		m[id] = s
	}
	return m
}

// newGoroutines lists the stacks of goroutines in after that are not in
// before.
func newGoroutines(before, after map[string]string) []string {
	var out []string
	for id, stack := range after {
		if _, ok := before[id]; !ok {
			out = append(out, stack)
		}
	}
	return out
}

func TestGoroutineLeakCheckCatchesALeak(t *testing.T) {
	before := goroutines()
	stop := make(chan struct{})
	go func() { <-stop }()
	leaked := newGoroutines(before, goroutines())
	close(stop)
	if len(leaked) != 1 || !strings.Contains(leaked[0], "TestGoroutineLeakCheckCatchesALeak") {
		t.Fatalf("leaked = %s", fmt.Sprint(leaked))
	}
}
