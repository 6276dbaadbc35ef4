package srt

import (
	"errors"
	"net/url"
	"strings"

	gosrt "github.com/datarhei/gosrt"
)

// refusal is why a connection request is refused: the rejection reason the caller receives
// and the message the log shows. Messages are constants: they never quote the stream ID,
// which holds the publish key.
type refusal struct {
	reason gosrt.RejectionReason
	msg    string
}

func (r *refusal) Error() string { return r.msg }

// The refusals of a stream ID.
var (
	errNoStreamID = &refusal{gosrt.REJX_BAD_REQUEST,
		"publish refused: no stream id (set streamid=publish:<stream>:<key> in the encoder's SRT URL)"}
	errMalformed = &refusal{gosrt.REJX_BAD_REQUEST,
		"publish refused: malformed stream id (want publish:<stream>:<key> or #!::r=<stream>,m=publish,s=<key>)"}
	errReading = &refusal{gosrt.REJX_BAD_MODE,
		"refused: the stream id asks to read, and reading over SRT is not supported yet (publishers use publish:<stream>:<key> or m=publish)"}
	errBadMode = &refusal{gosrt.REJX_BAD_MODE,
		"refused: unsupported mode in the stream id (use m=publish)"}
	errBadType = &refusal{gosrt.REJX_NOTSUP_MEDIA,
		"refused: unsupported type in the stream id (only t=stream is supported)"}
	errNoKey = &refusal{gosrt.REJX_UNAUTHORIZED,
		"publish refused: no publish key in the stream id (s=<key>)"}
)

// accessControlPrefix starts a stream ID in the SRT access-control syntax
// (https://github.com/Haivision/srt/blob/master/docs/features/access-control.md).
const accessControlPrefix = "#!::"

// parseStreamID returns the stream a publisher names and the publish key it presents. It
// accepts publish:<stream>:<key> and #!::r=<stream>,m=publish,s=<key> (keys in any order, other
// keys such as u= ignored). Any other request is refused with a *refusal.
//
// A stream ID that is malformed as sent but well formed once percent-decoded is taken decoded:
// ffmpeg (5.1, Debian 12's, at least) sends the streamid of an srt:// URL as written, so a URL
// escaped by the book (streamid=%23%21%3A%3Ar%3D...) arrives escaped.
func parseStreamID(id string) (stream, key string, err error) {
	stream, key, err = parseRawStreamID(id)
	if errors.Is(err, errMalformed) && strings.Contains(id, "%") {
		if dec, derr := url.PathUnescape(id); derr == nil && dec != id {
			if s, k, err2 := parseRawStreamID(dec); err2 == nil || !errors.Is(err2, errMalformed) {
				return s, k, err2
			}
		}
	}
	return stream, key, err
}

func parseRawStreamID(id string) (stream, key string, err error) {
	if id == "" {
		return "", "", errNoStreamID
	}
	if body, ok := strings.CutPrefix(id, accessControlPrefix); ok {
		return parseAccessControl(body)
	}
	mode, rest, _ := strings.Cut(id, ":")
	switch mode {
	case "publish":
	case "read", "request", "play", "subscribe":
		return "", "", errReading
	default:
		return "", "", errMalformed
	}
	stream, key, ok := strings.Cut(rest, ":")
	// Neither names nor keys hold a colon: a third one means another server's syntax
	// (publish:<path>:<user>:<pass>), not a key to try.
	if !ok || stream == "" || key == "" || strings.Contains(key, ":") {
		return "", "", errMalformed
	}
	return stream, key, nil
}

// parseAccessControl parses the comma-separated key=value list after "#!::".
func parseAccessControl(body string) (stream, key string, err error) {
	mode, typ := "request", "" // the syntax's default mode is request
	var seen [4]bool           // r, s, m, t
	for kv := range strings.SplitSeq(body, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", errMalformed
		}
		i := strings.Index("rsmt", k)
		if len(k) != 1 || i < 0 {
			continue // u= (user), h= (host) and custom keys say nothing we use
		}
		if seen[i] {
			return "", "", errMalformed
		}
		seen[i] = true
		switch k {
		case "r":
			stream = v
		case "s":
			key = v
		case "m":
			mode = v
		case "t":
			typ = v
		}
	}
	switch mode {
	case "publish":
	case "request":
		return "", "", errReading
	default:
		return "", "", errBadMode
	}
	if typ != "" && typ != "stream" {
		return "", "", errBadType
	}
	if stream == "" {
		return "", "", errMalformed
	}
	if key == "" {
		return "", "", errNoKey
	}
	return stream, key, nil
}
