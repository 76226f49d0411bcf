package isakmp

import (
	"bytes"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// TestFullWidth: a public value sent without its leading zero bytes (as
// SoftEther does) is padded back to the group's width, and the shared
// secret equals the one computed from the full-width value.
func TestFullWidth(t *testing.T) {
	g := suite.MODP1024.Group()
	for _, tc := range []struct {
		in   []byte
		want []byte
	}{
		{nil, nil},
		{[]byte{1, 2}, append(make([]byte, g.Size-2), 1, 2)},
		{bytes.Repeat([]byte{7}, g.Size), bytes.Repeat([]byte{7}, g.Size)},
		{bytes.Repeat([]byte{7}, g.Size+1), bytes.Repeat([]byte{7}, g.Size+1)},
	} {
		if got := fullWidth(tc.in, g.Size); !bytes.Equal(got, tc.want) {
			t.Errorf("fullWidth(%d bytes) = %x, want %x", len(tc.in), got, tc.want)
		}
	}

	priv := make([]byte, g.Size)
	priv[g.Size-1] = 3
	peer := make([]byte, g.Size)
	peer[1], peer[g.Size-1] = 0x40, 5 // a value with one leading zero byte
	want, err := g.SharedSecret(priv, peer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.SharedSecret(priv, fullWidth(peer[1:], g.Size))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("shared secret from the short value = %x, %v; want %x", got, err, want)
	}
}
