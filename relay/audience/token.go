package audience

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// PreviewHeader marks the requests of the operators' console preview player (WHEP offers,
// HLS playlists): made with an operator's session, they are not audience and never counted.
// From anyone else the header changes nothing.
const PreviewHeader = "X-Beffroi-Preview"

// A token names one player (an HLS session). It is 21 bytes, base64url without padding (28
// characters):
//
//	kind (1) | id (8) | issued, unix seconds (4) | MAC (8)
//
// The MAC (HMAC-SHA256 truncated to 8 bytes) covers the stream's name, the event (the live
// session the token was made for: EventOf) and the first 13 bytes. The event is not written
// in the token: a token of another event, like a forged one, simply fails its MAC. So a
// stranger can neither make up tokens nor keep old ones: a token holds for one stream, one
// live session, and at most Options.TokenMaxAge after it was issued. Checking one needs no
// stored state.
const (
	tokenKindLen = 1
	tokenIDLen   = 8
	tokenTimeLen = 4
	tokenMAC     = 8
	tokenBytes   = tokenKindLen + tokenIDLen + tokenTimeLen + tokenMAC
	tokenLen     = 28 // base64.RawURLEncoding.EncodedLen(tokenBytes)
)

// Token kinds: the first byte.
const (
	// kindOwn is a player's own token (a random id).
	kindOwn byte = 1
	// kindShared is the token of every player of one address beyond its mint rate: its id
	// is derived from the address, so they are one viewer (see Options.MintBurst).
	kindShared byte = 2
)

// DefaultTokenMaxAge bounds a token's age: beyond it, the token is refused even within its
// live session, and the multivariant playlist makes a new one.
const DefaultTokenMaxAge = 24 * time.Hour

// tokenSkew is how far in the future a token's issue time may be (the clocks of processes
// sharing a secret).
const tokenSkew = time.Minute

// token is a parsed token.
type token struct {
	kind   byte
	id     [tokenIDLen]byte
	issued uint32 // unix seconds
	mac    [tokenMAC]byte
}

// parseToken decodes a token's fields. It checks the form only, not the MAC.
func parseToken(s string) (token, bool) {
	var t token
	if len(s) != tokenLen {
		return t, false
	}
	var b [tokenBytes]byte
	n, err := base64.RawURLEncoding.Decode(b[:], []byte(s))
	if err != nil || n != tokenBytes {
		return t, false
	}
	t.kind = b[0]
	if t.kind != kindOwn && t.kind != kindShared {
		return t, false
	}
	copy(t.id[:], b[1:9])
	t.issued = binary.BigEndian.Uint32(b[9:13])
	copy(t.mac[:], b[13:])
	return t, true
}

// head is what the MAC covers of the token itself.
func (t *token) head() [tokenBytes - tokenMAC]byte {
	var b [tokenBytes - tokenMAC]byte
	b[0] = t.kind
	copy(b[1:9], t.id[:])
	binary.BigEndian.PutUint32(b[9:13], t.issued)
	return b
}

func (t *token) String() string {
	var b [tokenBytes]byte
	h := t.head()
	copy(b[:], h[:])
	copy(b[len(h):], t.mac[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *Counter) mac(stream string, event uint64, t *token) [tokenMAC]byte {
	h := hmac.New(sha256.New, c.secret)
	h.Write([]byte(stream))
	var b [1 + 8]byte
	binary.BigEndian.PutUint64(b[1:], event)
	h.Write(b[:])
	head := t.head()
	h.Write(head[:])
	var m [tokenMAC]byte
	copy(m[:], h.Sum(nil))
	return m
}

// EventOf names a live session of a stream, from its number and start (relay.Info's Session
// and LiveSince): the number alone repeats across restarts of a process that keeps its
// secret.
func EventOf(session uint64, liveSince time.Time) uint64 {
	return session*0x9e3779b97f4a7c15 ^ uint64(liveSince.UnixNano())
}

func (c *Counter) sign(stream string, event uint64, t *token) string {
	t.issued = uint32(c.clock().Unix())
	t.mac = c.mac(stream, event, t)
	return t.String()
}

// NewToken returns a fresh session token for a player of stream's live session event. It is
// not rate-limited: the HLS output calls Mint.
func (c *Counter) NewToken(stream string, event uint64) string {
	t := token{kind: kindOwn}
	_, _ = rand.Read(t.id[:])
	return c.sign(stream, event, &t)
}

// sharedToken returns the token every player of client shares beyond its mint rate. It is
// the same for an hour (its issue time is the hour's start), so they are one viewer.
func (c *Counter) sharedToken(stream string, event uint64, client string) string {
	h := hmac.New(sha256.New, c.secret)
	h.Write([]byte("shared\x00"))
	h.Write([]byte(stream))
	h.Write([]byte{0})
	h.Write([]byte(client))
	t := token{kind: kindShared}
	copy(t.id[:], h.Sum(nil))
	t.issued = uint32(c.clock().Truncate(time.Hour).Unix())
	t.mac = c.mac(stream, event, &t)
	return t.String()
}

// ValidToken reports whether token was made for stream's live session event (by this
// process, or by another one sharing the secret) and is not older than Options.TokenMaxAge.
func (c *Counter) ValidToken(stream string, event uint64, tok string) bool {
	t, ok := parseToken(tok)
	if !ok {
		return false
	}
	now := c.clock()
	issued := time.Unix(int64(t.issued), 0)
	if now.Sub(issued) > c.o.TokenMaxAge || issued.Sub(now) > tokenSkew {
		return false
	}
	m := c.mac(stream, event, &t)
	return hmac.Equal(m[:], t.mac[:])
}
