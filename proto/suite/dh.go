package suite

import (
	"errors"
	"fmt"
	"io"
	"math/big"
)

// GroupID is an IKE Group Description attribute value.
// Ref: RFC 2409 §6.2 (group 2), RFC 3526 §3 (group 14).
type GroupID uint16

// DH groups we support.
const (
	MODP1024 GroupID = 2
	MODP2048 GroupID = 14
)

// String names the group.
func (g GroupID) String() string {
	switch g {
	case MODP1024:
		return "modp1024"
	case MODP2048:
		return "modp2048"
	}
	return fmt.Sprintf("group(%d)", uint16(g))
}

// Group is a MODP Diffie-Hellman group. Public values and the shared secret
// are always encoded at the full width of the prime (Size bytes), leading
// zeros included: a value encoded short breaks the peer's KE check or the
// SKEYID computation about once in 256 exchanges.
type Group struct {
	ID   GroupID
	P    *big.Int
	G    *big.Int
	Size int // bytes
}

var (
	// Ref: RFC 2409 §6.2, Second Oakley Group.
	modp1024 = mustGroup(MODP1024, ""+
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF")
	// Ref: RFC 3526 §3, 2048-bit MODP Group.
	modp2048 = mustGroup(MODP2048, ""+
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"+
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"+
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"+
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"+
		"3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF")
)

func mustGroup(id GroupID, hexP string) *Group {
	p, ok := new(big.Int).SetString(hexP, 16)
	if !ok {
		panic("suite: bad prime")
	}
	return &Group{ID: id, P: p, G: big.NewInt(2), Size: (p.BitLen() + 7) / 8}
}

// Group returns the group for id, or nil if unsupported.
func (g GroupID) Group() *Group {
	switch g {
	case MODP1024:
		return modp1024
	case MODP2048:
		return modp2048
	}
	return nil
}

// ErrBadPublic is returned for a peer public value outside 2..p-2.
var ErrBadPublic = errors.New("suite: invalid Diffie-Hellman public value")

// GenerateKey draws a private exponent from rand and returns it with the
// public value g^x mod p, both encoded at full group width.
func (g *Group) GenerateKey(rand io.Reader) (priv, pub []byte, err error) {
	priv = make([]byte, g.Size)
	if _, err := io.ReadFull(rand, priv); err != nil {
		return nil, nil, fmt.Errorf("suite: reading randomness: %w", err)
	}
	x := new(big.Int).SetBytes(priv)
	x.Mod(x, new(big.Int).Sub(g.P, big.NewInt(2)))
	x.Add(x, big.NewInt(1)) // 1 <= x <= p-2
	x.FillBytes(priv)
	y := new(big.Int).Exp(g.G, x, g.P)
	return priv, y.FillBytes(make([]byte, g.Size)), nil
}

// SharedSecret returns g^xy mod p at full group width. peerPub must be
// exactly Size bytes and in 2..p-2.
func (g *Group) SharedSecret(priv, peerPub []byte) ([]byte, error) {
	if len(peerPub) != g.Size {
		return nil, fmt.Errorf("%w: length %d, want %d", ErrBadPublic, len(peerPub), g.Size)
	}
	y := new(big.Int).SetBytes(peerPub)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(new(big.Int).Sub(g.P, big.NewInt(1))) >= 0 {
		return nil, ErrBadPublic
	}
	z := new(big.Int).Exp(y, new(big.Int).SetBytes(priv), g.P)
	return z.FillBytes(make([]byte, g.Size)), nil
}
