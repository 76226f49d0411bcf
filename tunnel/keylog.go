package tunnel

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// The key log of Config.KeyLog: a directory with the two tables that
// Wireshark reads from its configuration directory, under the names it
// looks for, so that WIRESHARK_CONFIG_DIR=DIR (or copying the files into
// a Wireshark profile) decrypts a capture of the outer traffic:
//
//	ikev1_decryption_table  one line per IKE SA: initiator cookie, phase-1
//	                        cipher key (hex); decrypts Main Mode 5/6,
//	                        Quick Mode and Informational messages
//	esp_sa                  one line per ESP SA and direction: "IPv4",
//	                        source, destination, SPI, cipher, key,
//	                        integrity algorithm, key (Wireshark's ESP SA
//	                        table), appended on every re-key
//	preferences             written only if missing: turns on ESP
//	                        decryption and ICV checks
//	                        (esp.enable_encryption_decode,
//	                        esp.enable_authentication_check)
//
// The files are created with mode 0600 (the directory 0700), never through
// a symbolic link, and lines are only appended: a run never removes keys
// an earlier one wrote.

// Names of the files in the key log directory: Wireshark's own.
const (
	keyLogIKEv1 = "ikev1_decryption_table"
	keyLogESP   = "esp_sa"
	keyLogPrefs = "preferences"
)

// keyLog appends keys to the files; used by the control goroutine only
// (one Run's, across its reconnection attempts).
type keyLog struct {
	ike, esp *os.File
	seenIKE  map[[8]byte]bool
	seenESP  map[uint32]bool // SPIs written (inbound and outbound SPIs are chosen by different sides, but never collide in practice; a repeat is only skipped)
	log      *Logger
	failed   bool // a write failed; reported once
}

func openKeyLog(dir string, log *Logger) (*keyLog, error) {
	wrap := func(err error) error { return fmt.Errorf("%w: --keylog: %w", ErrConfig, err) }
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, wrap(err)
	}
	if fi, err := os.Lstat(dir); err != nil {
		return nil, wrap(err)
	} else if fi.Mode()&os.ModeSymlink != 0 {
		return nil, wrap(noFollowError(dir, syscall.ELOOP))
	} else if !fi.IsDir() {
		return nil, wrap(fmt.Errorf("%s is not a directory", dir))
	}
	open := func(name string) (*os.File, error) {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, noFollowError(path, err)
		}
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	k := &keyLog{seenIKE: map[[8]byte]bool{}, seenESP: map[uint32]bool{}, log: log}
	var err error
	if k.ike, err = open(keyLogIKEv1); err != nil {
		return nil, wrap(err)
	}
	if k.esp, err = open(keyLogESP); err != nil {
		k.ike.Close()
		return nil, wrap(err)
	}
	// Only if missing: the user may have a preferences file of their own.
	if f, err := os.OpenFile(filepath.Join(dir, keyLogPrefs), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600); err == nil {
		_, err = f.WriteString("# Written by l2tpctl --keylog: decrypt ESP with the SAs in esp_sa and check its ICVs.\n" +
			"esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n")
		f.Close()
		if err != nil {
			log.errorf("--keylog: writing %s: %v", keyLogPrefs, err)
		}
	}
	return k, nil
}

func (k *keyLog) close() {
	k.ike.Close()
	k.esp.Close()
}

func (k *keyLog) write(f *os.File, line string) {
	if _, err := f.WriteString(line); err != nil && !k.failed {
		k.failed = true
		k.log.errorf("--keylog: writing %s: %v", f.Name(), err)
	}
}

// ikeSA writes the key of one IKE SA, once.
func (k *keyLog) ikeSA(key isakmp.IKEKey) {
	if k == nil || k.seenIKE[key.ICookie] {
		return
	}
	k.seenIKE[key.ICookie] = true
	k.write(k.ike, ikeKeyLine(key))
}

// espSA writes one direction of an ESP SA, once per SPI.
func (k *keyLog) espSA(src, dst netip.Addr, spi uint32, t suite.ESPTransform, encKey, authKey []byte) {
	if k == nil || k.seenESP[spi] {
		return
	}
	k.seenESP[spi] = true
	line, err := espSALine(src, dst, spi, t, encKey, authKey)
	if err != nil {
		k.log.errorf("--keylog: SPI 0x%08x: %v", spi, err)
		return
	}
	k.write(k.esp, line)
}

// ikeKeyLine is a line of Wireshark's IKEv1 decryption table: the
// initiator cookie and the encryption key, in hex, unquoted.
func ikeKeyLine(key isakmp.IKEKey) string {
	return hex.EncodeToString(key.ICookie[:]) + "," + hex.EncodeToString(key.EncKey) + "\n"
}

// espSALine is a line of Wireshark's ESP SA table (its "esp_sa" UAT):
// protocol, source, destination, SPI, encryption algorithm, key,
// authentication algorithm, key, all quoted. For AES-GCM the key is the
// KEYMAT with its 4-byte salt (RFC 4106 §8.1), as Wireshark expects.
func espSALine(src, dst netip.Addr, spi uint32, t suite.ESPTransform, encKey, authKey []byte) (string, error) {
	enc, auth, err := wiresharkESPNames(t)
	if err != nil {
		return "", err
	}
	hexKey := func(b []byte) string {
		if len(b) == 0 {
			return ""
		}
		return "0x" + hex.EncodeToString(b)
	}
	return fmt.Sprintf("%q,%q,%q,\"0x%08x\",%q,%q,%q,%q\n", "IPv4", src.Unmap().String(), dst.Unmap().String(),
		spi, enc, hexKey(encKey), auth, hexKey(authKey)), nil
}

// wiresharkESPNames gives the names Wireshark's ESP SA table uses for the
// cipher and the integrity algorithm of t (packet-esp.c,
// esp_encryption_type_vals and esp_authentication_type_vals, in
// Wireshark 4.0).
func wiresharkESPNames(t suite.ESPTransform) (enc, auth string, err error) {
	switch t.Enc {
	case suite.ESPAES:
		enc = "AES-CBC [RFC3602]" // any key length
	case suite.ESP3DES:
		enc = "TripleDES-CBC [RFC2451]"
	case suite.ESPDES:
		enc = "DES-CBC [RFC2405]"
	case suite.ESPAESGCM16:
		enc = "AES-GCM with 16 octet ICV [RFC4106]"
	default:
		return "", "", fmt.Errorf("no Wireshark name for ESP cipher %v", t)
	}
	switch t.Auth {
	case suite.AuthNone:
		auth = "NULL"
	case suite.AuthHMACSHA1:
		auth = "HMAC-SHA-1-96 [RFC2404]"
	case suite.AuthHMACSHA256:
		auth = "HMAC-SHA-256-128 [RFC4868]"
	case suite.AuthHMACSHA384:
		auth = "HMAC-SHA-384-192 [RFC4868]"
	case suite.AuthHMACSHA512:
		auth = "HMAC-SHA-512-256 [RFC4868]"
	case suite.AuthHMACMD5:
		auth = "HMAC-MD5-96 [RFC2403]"
	default:
		return "", "", fmt.Errorf("no Wireshark name for ESP integrity algorithm %v", t)
	}
	return enc, auth, nil
}
