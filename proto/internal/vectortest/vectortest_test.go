package vectortest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// The stream is SHA-256(seed ‖ uint64be(i)) for i = 0, 1, …, whatever the
// sizes of the reads: the committed capture vectors depend on it.
func TestRandStream(t *testing.T) {
	seed := []byte("seed")
	var want []byte
	for i := byte(0); i < 3; i++ {
		s := sha256.Sum256(append([]byte("seed"), 0, 0, 0, 0, 0, 0, 0, i))
		want = append(want, s[:]...)
	}
	// Computed apart: python3 -c "import hashlib,struct; print(hashlib.sha256(b'seed'+struct.pack('>Q',0)).hexdigest()[:16])"
	if got := hex.EncodeToString(want[:8]); got != "1a30d3c0635d49b5" {
		t.Fatalf("first block starts %s", got)
	}
	r := NewRand(seed)
	var got []byte
	for _, n := range []int{1, 0, 31, 5, 40, 19} { // 96 bytes in uneven pieces
		p := make([]byte, n)
		if k, err := r.Read(p); k != n || err != nil {
			t.Fatalf("Read(%d) = %d, %v", n, k, err)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stream\n %x\nwant\n %x", got, want)
	}
	if seed := string(seed); seed != "seed" {
		t.Fatalf("seed changed to %q", seed)
	}
}
