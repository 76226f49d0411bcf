package suite

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// GroupID is an IKE Group Description attribute value.
// Ref: RFC 2409 §6.2 (groups 1, 2), RFC 3526 §2-3 (groups 5, 14),
// RFC 5903 §8 (groups 19, 20).
type GroupID uint16

// DH groups we support.
const (
	MODP1024 GroupID = 2
	MODP1536 GroupID = 5
	MODP2048 GroupID = 14
	ECP256   GroupID = 19
	ECP384   GroupID = 20
)

// String names the group.
func (g GroupID) String() string {
	if gr, ok := groups[g]; ok {
		return gr.name
	}
	return fmt.Sprintf("group(%d)", uint16(g))
}

// Level is the group's strength level (Broken for an unknown one).
func (g GroupID) Level() Level {
	if gr, ok := groups[g]; ok {
		return gr.level
	}
	return Broken
}

// Group is a Diffie-Hellman group: a MODP group (P and G set) or an
// elliptic-curve group of RFC 5903 (curve set). Public values and the
// shared secret are always encoded at full width (Size bytes; for ECP the
// KE payload is x | y and the shared secret is x, RFC 5903 §7), leading zeros
// included: a value encoded short breaks the peer's KE check or the SKEYID
// computation about once in 256 exchanges.
type Group struct {
	ID    GroupID
	P     *big.Int   // MODP: the prime
	G     *big.Int   // MODP: the generator
	curve ecdh.Curve // ECP: the curve
	Size  int        // bytes of a public value in a KE payload
	// expBits is the size of a MODP private exponent (see GenerateKey).
	expBits int
	name    string
	level   Level
}

var (
	// Ref: RFC 2409 §6.2, Second Oakley Group.
	modp1024 = mustGroup(MODP1024, "modp1024", Legacy, 256, ""+
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF")
	// Ref: RFC 3526 §2, 1536-bit MODP Group.
	modp1536 = mustGroup(MODP1536, "modp1536", Legacy, 256, ""+
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"+
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"+
		"9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF")
	// Ref: RFC 3526 §3, 2048-bit MODP Group.
	modp2048 = mustGroup(MODP2048, "modp2048", Modern, 320, ""+
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"+
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"+
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"+
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"+
		"3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF")
	// Ref: RFC 5903 §3.1 (256-bit random ECP group), §3.2 (384-bit).
	ecp256 = &Group{ID: ECP256, curve: ecdh.P256(), Size: 64, name: "ecp256", level: Modern}
	ecp384 = &Group{ID: ECP384, curve: ecdh.P384(), Size: 96, name: "ecp384", level: Modern}
)

// groups is the DH group registry.
var groups = map[GroupID]*Group{MODP1024: modp1024, MODP1536: modp1536, MODP2048: modp2048, ECP256: ecp256, ECP384: ecp384}

func mustGroup(id GroupID, name string, level Level, expBits int, hexP string) *Group {
	p, ok := new(big.Int).SetString(hexP, 16)
	if !ok {
		panic("suite: bad prime")
	}
	return &Group{ID: id, P: p, G: big.NewInt(2), Size: (p.BitLen() + 7) / 8, expBits: expBits, name: name, level: level}
}

// Group returns the group for id, or nil if unsupported.
func (g GroupID) Group() *Group { return groups[g] }

// IsECP reports whether g is an elliptic-curve group.
func (g *Group) IsECP() bool { return g.curve != nil }

// ErrBadPublic is returned for a peer public value outside 2..p-2, or not
// a point of the curve.
var ErrBadPublic = errors.New("suite: invalid Diffie-Hellman public value")

// GenerateKey draws a private key from rand and returns it with the public
// value (g^x mod p, or x | y of the point), encoded at full width.
//
// A MODP private exponent has expBits bits (its top bit set), not the
// modulus's: an exponent twice the group's strength is as hard to find as
// a full one, and the modular exponentiation, the whole cost of a Main Mode,
// takes a sixth of the time. The sizes are the larger of RFC 3526 §8's two
// estimates (320 bits for the 2048-bit group), at least 256 bits; NIST
// SP 800-56A Rev. 3 §5.6.1.1.1 asks for at least 224 with this group.
func (g *Group) GenerateKey(rand io.Reader) (priv, pub []byte, err error) {
	if g.IsECP() {
		return g.generateECP(rand)
	}
	priv = make([]byte, g.expBits/8)
	if _, err := io.ReadFull(rand, priv); err != nil {
		return nil, nil, fmt.Errorf("suite: reading randomness: %w", err)
	}
	priv[0] |= 0x80 // 2^(expBits-1) <= x < 2^expBits, far below p-1
	y := new(big.Int).Exp(g.G, new(big.Int).SetBytes(priv), g.P)
	return priv, y.FillBytes(make([]byte, g.Size)), nil
}

// PrivateKeySize is how many bytes of randomness GenerateKey reads for a
// MODP group's private key.
func (g *Group) PrivateKeySize() int { return g.expBits / 8 }

// generateECP draws the scalar from rand itself (crypto/ecdh's own
// GenerateKey may ignore its reader), retrying the rare value that is zero
// or not below the group order.
func (g *Group) generateECP(rand io.Reader) (priv, pub []byte, err error) {
	for range 16 {
		priv = make([]byte, g.Size/2)
		if _, err := io.ReadFull(rand, priv); err != nil {
			return nil, nil, fmt.Errorf("suite: reading randomness: %w", err)
		}
		k, err := g.curve.NewPrivateKey(priv)
		if err != nil {
			continue
		}
		// Bytes is the uncompressed point 0x04 | x | y (SEC 1 §2.3.3);
		// the KE payload is x | y (RFC 5903 §7).
		return priv, k.PublicKey().Bytes()[1:], nil
	}
	return nil, nil, errors.New("suite: no valid elliptic-curve scalar from the random source")
}

// SharedSecret returns the shared secret at full width: g^xy mod p, or the
// x coordinate of the shared point (RFC 5903 §7). peerPub must be exactly
// Size bytes and in 2..p-2, or a point on the curve.
func (g *Group) SharedSecret(priv, peerPub []byte) ([]byte, error) {
	if len(peerPub) != g.Size {
		return nil, fmt.Errorf("%w: length %d, want %d", ErrBadPublic, len(peerPub), g.Size)
	}
	if g.IsECP() {
		k, err := g.curve.NewPrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("suite: private key: %w", err)
		}
		pub, err := g.curve.NewPublicKey(append([]byte{4}, peerPub...))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPublic, err)
		}
		z, err := k.ECDH(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPublic, err)
		}
		return z, nil
	}
	y := new(big.Int).SetBytes(peerPub)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(new(big.Int).Sub(g.P, big.NewInt(1))) >= 0 {
		return nil, ErrBadPublic
	}
	z := new(big.Int).Exp(y, new(big.Int).SetBytes(priv), g.P)
	return z.FillBytes(make([]byte, g.Size)), nil
}
