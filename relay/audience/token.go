package audience

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// A token is 8 random bytes and the first 8 bytes of an HMAC of the stream name and those
// random bytes, base64url without padding: 22 characters. A token names one player (an HLS
// session); the HMAC makes tokens unforgeable, so a stranger cannot inflate the count with
// made-up beacons, and checking one needs no stored state.
const (
	tokenRand = 8
	tokenMAC  = 8
	tokenLen  = 22 // base64.RawURLEncoding.EncodedLen(tokenRand + tokenMAC)
)

func (c *Counter) mac(stream string, r []byte) []byte {
	h := hmac.New(sha256.New, c.secret)
	h.Write([]byte(stream))
	h.Write([]byte{0})
	h.Write(r)
	return h.Sum(nil)[:tokenMAC]
}

// NewToken returns a fresh session token for a player of stream.
func (c *Counter) NewToken(stream string) string {
	var b [tokenRand + tokenMAC]byte
	_, _ = rand.Read(b[:tokenRand])
	copy(b[tokenRand:], c.mac(stream, b[:tokenRand]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidToken reports whether token was made by NewToken for stream (by this process, or by
// another one sharing the secret).
func (c *Counter) ValidToken(stream, token string) bool {
	if len(token) != tokenLen {
		return false
	}
	var b [tokenRand + tokenMAC]byte
	n, err := base64.RawURLEncoding.Decode(b[:], []byte(token))
	if err != nil || n != len(b) {
		return false
	}
	return hmac.Equal(b[tokenRand:], c.mac(stream, b[:tokenRand]))
}
