package whep

import (
	"errors"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// errNotBound is returned by sharedTrack.writeRTP before the PeerConnection bound the
// track (or after it unbound it).
var errNotBound = errors.New("track not bound")

// sharedTrack is a pion TrackLocal that sends payloads it does not own: the payloads of a
// frame, shared by every viewer, never copied. pion's TrackLocalStaticRTP hands its packets
// to the interceptors in a pooled packet, so the NACK history must copy each one; here each
// packet gets a header of its own and the history keeps the shared payload, not a copy
// (nack.DisableCopy in newInterceptors).
type sharedTrack struct {
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecCapability
	id    string

	mu sync.RWMutex
	w  webrtc.TrackLocalWriter
	// ssrc and payloadType of the one binding: one PeerConnection per track.
	ssrc        uint32
	payloadType uint8
}

var _ webrtc.TrackLocal = (*sharedTrack)(nil)

func newSharedTrack(c webrtc.RTPCodecCapability, kind webrtc.RTPCodecType, id string) *sharedTrack {
	return &sharedTrack{kind: kind, codec: c, id: id}
}

// Bind is called by the PeerConnection once the codec is negotiated. The track sends the
// codec it was made for (the answer offers only that one): the negotiated codecs may list
// other variants of the same MIME type, with other payload types.
func (t *sharedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	pick := -1
	for i, c := range codecs {
		if !strings.EqualFold(c.MimeType, t.codec.MimeType) {
			continue
		}
		if c.SDPFmtpLine == t.codec.SDPFmtpLine {
			pick = i
			break
		}
		if pick < 0 {
			pick = i
		}
	}
	if pick < 0 {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	c := codecs[pick]
	t.mu.Lock()
	t.w, t.ssrc, t.payloadType = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
	t.mu.Unlock()
	return c, nil
}

// Unbind is called when the sender stops.
func (t *sharedTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.w = nil
	t.mu.Unlock()
	return nil
}

// ID returns the track's id.
func (t *sharedTrack) ID() string { return t.id }

// RID returns "": no simulcast.
func (t *sharedTrack) RID() string { return "" }

// StreamID returns the media stream id both tracks share.
func (t *sharedTrack) StreamID() string { return "beffroi" }

// Kind returns audio or video.
func (t *sharedTrack) Kind() webrtc.RTPCodecType { return t.kind }

// writeRTP sends one packet. h is owned by the track from now on (the NACK history keeps
// it); payload is shared and must never be modified.
func (t *sharedTrack) writeRTP(h *rtp.Header, payload []byte) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.w == nil {
		return errNotBound
	}
	h.SSRC, h.PayloadType = t.ssrc, t.payloadType
	_, err := t.w.WriteRTP(h, payload)
	return err
}
