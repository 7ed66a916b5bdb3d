package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// UIDs that cxrview makes (report series, report instances, study UIDs for
// PNG and JPEG films, replacements when anonymising) live under the root
// 2.25: PS3.5 B.2 lets anyone turn a 128-bit UUID into a UID as
// "2.25.<the UUID as one decimal integer>", so no organisation root has to
// be registered and the UIDs are still globally unique. They are at most
// 44 characters (the limit is 64).
const uidRoot = "2.25."

// NewUID returns a new random UID under 2.25 (a version 4 UUID's 128 bits).
func NewUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return uuidUID(b[:], 4)
}

// uuidUID writes the first 16 bytes of b as a UUID of the given version
// (RFC 9562 layout) under 2.25.
func uuidUID(b []byte, version byte) string {
	u := append([]byte(nil), b[:16]...)
	u[6] = u[6]&0x0f | version<<4
	u[8] = u[8]&0x3f | 0x80
	return uidRoot + new(big.Int).SetBytes(u).String()
}

// derivedUID is a UID under 2.25 computed from purpose and in: the same
// input always gives the same UID. PNG films get their study UID this way
// (from the content hash). It is not secret: anyone holding in can compute
// it, so anonymised exports use anonUID instead.
func derivedUID(purpose, in string) string {
	sum := sha256.Sum256([]byte("cxrview " + purpose + "\x00" + in))
	return uuidUID(sum[:], 5) // name-based
}

// anonUID replaces the real UID in by one keyed with the installation's
// secret (HMAC-SHA-256): the same study always gets the same replacement
// on this installation, so several anonymised exports still refer to one
// study, while someone holding the real UIDs but not the secret cannot
// compute the replacements and link them back.
func anonUID(secret []byte, in string) string {
	return uuidUID(anonMAC(secret, "uid", in), 8) // custom (RFC 9562)
}

// anonName is the file name base of an anonymised export of the study
// with key, keyed like anonUID.
func anonName(secret []byte, key string) string {
	return "anon-" + hex.EncodeToString(anonMAC(secret, "file", key))[:12]
}

func anonMAC(secret []byte, purpose, in string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("cxrview anonymize " + purpose + "\x00" + in))
	return m.Sum(nil)
}

// anonSecretFile is the installation's secret in Dirs.Config.
const anonSecretFile = "anonymize.key"

// AnonymizationSecret returns the installation's secret for anonymised
// identifiers (32 random bytes, kept as hex in Dirs.Config, mode 0600). It
// is made on first use and never replaced: anonymised exports already
// written carry identifiers made with it. A damaged file is an error that
// names it.
func AnonymizationSecret(d Dirs) ([]byte, error) {
	path := filepath.Join(d.Config, anonSecretFile)
	for range 3 {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
			if derr != nil || len(key) != 32 {
				return nil, fmt.Errorf("anonymisation secret %s is damaged (want 64 hex digits); "+
					"remove it to make a new one (anonymised exports made from then on will not match earlier ones)", path)
			}
			return key, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("read the anonymisation secret: %w", err)
		}
		if err := createSecret(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("make the anonymisation secret %s: %w", path, err)
		}
		// Made here or, at the same moment, by another cxrview: read it.
	}
	return nil, fmt.Errorf("anonymisation secret %s: cannot be read back", path)
}

// createSecret writes a new secret to path unless a file is there. The
// secret is written in full under a temporary name and linked into place,
// so another process finds either no secret or the whole one, and never
// has one replaced.
func createSecret(path string) error {
	var key [32]byte
	rand.Read(key[:])
	data := []byte(hex.EncodeToString(key[:]) + "\n")
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+anonSecretFile+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// No hard links (FAT on a USB stick): create exclusively instead.
	g, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = g.Write(data)
	if err == nil {
		err = g.Sync()
	}
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	return err
}
