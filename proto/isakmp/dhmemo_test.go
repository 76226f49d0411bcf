package isakmp

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// memoDH is dhOps that remembers the modular-exponentiation groups'
// results, so that the fuzz targets, which replay a whole exchange for
// every input, compute each key once per process. The results are the
// same as groupDH's: generate reads the same bytes from rand (a MODP key
// is exactly PrivateKeySize bytes of it), shared is a function of its inputs.
// Elliptic-curve groups are cheap and pass through.
type memoDH struct {
	mu  sync.Mutex
	gen map[memoKey][2][]byte
	sh  map[memoKey][]byte
}

type memoKey struct {
	g *suite.Group
	k string
}

// memoMax bounds each cache: fuzzed KE payloads are all different.
const memoMax = 4096

// useMemoDH makes the package use a memoDH until tb ends.
func useMemoDH(tb testing.TB) {
	old := dh
	dh = &memoDH{gen: map[memoKey][2][]byte{}, sh: map[memoKey][]byte{}}
	tb.Cleanup(func() { dh = old })
}

func (m *memoDH) generate(g *suite.Group, rand io.Reader) (priv, pub []byte, err error) {
	if g == nil || g.IsECP() {
		return groupDH{}.generate(g, rand)
	}
	seed := make([]byte, g.PrivateKeySize())
	if _, err := io.ReadFull(rand, seed); err != nil {
		return groupDH{}.generate(g, io.MultiReader(bytes.NewReader(seed), rand)) // the same error
	}
	key := memoKey{g, string(seed)}
	m.mu.Lock()
	r, ok := m.gen[key]
	m.mu.Unlock()
	if ok {
		return bytes.Clone(r[0]), bytes.Clone(r[1]), nil
	}
	priv, pub, err = groupDH{}.generate(g, bytes.NewReader(seed))
	if err == nil {
		m.mu.Lock()
		if len(m.gen) < memoMax {
			m.gen[key] = [2][]byte{bytes.Clone(priv), bytes.Clone(pub)}
		}
		m.mu.Unlock()
	}
	return priv, pub, err
}

func (m *memoDH) shared(g *suite.Group, priv, peerPub []byte) ([]byte, error) {
	if g == nil || g.IsECP() {
		return groupDH{}.shared(g, priv, peerPub)
	}
	key := memoKey{g, string(priv) + "|" + string(peerPub)}
	m.mu.Lock()
	z, ok := m.sh[key]
	m.mu.Unlock()
	if ok {
		return bytes.Clone(z), nil
	}
	z, err := groupDH{}.shared(g, priv, peerPub)
	if err == nil {
		m.mu.Lock()
		if len(m.sh) < memoMax {
			m.sh[key] = bytes.Clone(z)
		}
		m.mu.Unlock()
	}
	return z, err
}

// TestMemoDHSame checks that memoDH gives groupDH's results, from the
// cache too, and consumes the same randomness.
func TestMemoDHSame(t *testing.T) {
	g := suite.GroupID(14).Group()
	m := &memoDH{gen: map[memoKey][2][]byte{}, sh: map[memoKey][]byte{}}
	seed := bytes.Repeat([]byte{7}, 2*g.Size+1)
	for range 2 {
		r1, r2 := bytes.NewReader(seed), bytes.NewReader(seed)
		p1, q1, err1 := groupDH{}.generate(g, r1)
		p2, q2, err2 := m.generate(g, r2)
		if err1 != nil || err2 != nil || !bytes.Equal(p1, p2) || !bytes.Equal(q1, q2) || r1.Len() != r2.Len() {
			t.Fatalf("generate differs: %v %v, %d/%d bytes left", err1, err2, r1.Len(), r2.Len())
		}
		z1, err1 := groupDH{}.shared(g, p1, q1)
		z2, err2 := m.shared(g, p1, q1)
		if err1 != nil || err2 != nil || !bytes.Equal(z1, z2) {
			t.Fatalf("shared differs: %v %v", err1, err2)
		}
	}
	if len(m.gen) != 1 || len(m.sh) != 1 {
		t.Fatalf("cache holds %d keys and %d secrets, want 1 and 1", len(m.gen), len(m.sh))
	}
}
