package app

import (
	"crypto/rand"
	"crypto/sha256"
	"math/big"
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
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uidRoot + new(big.Int).SetBytes(b[:]).String()
}

// derivedUID is a UID under 2.25 computed from purpose and in: the same
// input always gives the same UID, and the input cannot be read back from
// it. PNG films get their study UID this way (from the content hash), and
// anonymised exports replace each real UID by one derived from it, so
// several exports of a study still refer to one study.
func derivedUID(purpose, in string) string {
	sum := sha256.Sum256([]byte("cxrview " + purpose + "\x00" + in))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50 // name-based UUID (version 5 layout)
	b[8] = b[8]&0x3f | 0x80
	return uidRoot + new(big.Int).SetBytes(b).String()
}
