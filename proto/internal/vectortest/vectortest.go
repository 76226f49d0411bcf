// Package vectortest holds the pieces the replay tests of proto/ share: the
// deterministic random stream the SoftEther captures were recorded with, hex
// and JSON decoding that fail the test, and the capture clock.
//
// It is imported only from _test.go files. Like the rest of proto/ it does no
// I/O of its own: callers pass os.ReadFile to LoadJSON.
package vectortest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// Rand is the deterministic random stream of the captures: the concatenation
// of the blocks SHA-256(seed ‖ counter), the counter a big-endian uint64 that
// starts at 0. The committed vectors depend on this exact byte stream.
type Rand struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

// NewRand returns the stream for seed.
func NewRand(seed []byte) *Rand {
	return &Rand{seed: seed}
}

// Read fills p from the stream; it never fails.
func (r *Rand) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			r.ctr++
			s := sha256.Sum256(append(append([]byte(nil), r.seed...), c[:]...))
			r.buf = s[:]
		}
		k := copy(p[n:], r.buf)
		r.buf = r.buf[k:]
		n += k
	}
	return n, nil
}

// Hex decodes s, plain hex digits as the captures record them (no spaces or
// other separators), and fails the test if it is not valid hex.
func Hex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LoadJSON reads path with readFile (os.ReadFile in tests) and unmarshals it
// into v, failing the test on either error.
func LoadJSON(t testing.TB, readFile func(string) ([]byte, error), path string, v any) {
	t.Helper()
	raw, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// At is the capture clock: base plus ms whole milliseconds.
func At(base time.Time, ms int64) time.Time {
	return base.Add(time.Duration(ms) * time.Millisecond)
}

// Describe lists actions as "%T%+v " each, for failure messages.
func Describe[A any](acts []A) string {
	s := ""
	for _, a := range acts {
		s += fmt.Sprintf("%T%+v ", a, a)
	}
	return s
}
