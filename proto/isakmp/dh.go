package isakmp

import (
	"io"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// dhOps is the Diffie-Hellman arithmetic the FSMs use.
type dhOps interface {
	generate(g *suite.Group, rand io.Reader) (priv, pub []byte, err error)
	shared(g *suite.Group, priv, peerPub []byte) ([]byte, error)
}

// dh is the package's Diffie-Hellman arithmetic: suite.Group's own. The
// fuzz tests alone replace it, with a wrapper that remembers results
// (same inputs, same outputs, computed once), so that replaying a session
// up to the state under test costs no modular exponentiation.
var dh dhOps = groupDH{}

type groupDH struct{}

func (groupDH) generate(g *suite.Group, rand io.Reader) (priv, pub []byte, err error) {
	return g.GenerateKey(rand)
}

func (groupDH) shared(g *suite.Group, priv, peerPub []byte) ([]byte, error) {
	return g.SharedSecret(priv, peerPub)
}
