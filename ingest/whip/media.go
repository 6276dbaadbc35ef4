package whip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp8"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/relay"
)

// trackHandler turns one track's RTP packets into relay frames.
type trackHandler struct {
	clock rtpClock
	// packet handles one packet received at now. Called with the session's mu held.
	packet func(pkt *rtp.Packet, now time.Time)
	// damaged, when set, is told that packets were given up before the one handed next
	// (video: the frames that follow lack what they refer to). Called with mu held.
	damaged func(now time.Time)
}

// rtpClock converts a track's RTP timestamps into durations on the session's timeline: the
// track starts at the wall-clock time of its first packet (since the session's first
// packet), which aligns audio and video well enough; 32-bit wraps are unwrapped.
type rtpClock struct {
	rate    int64
	started bool
	last    uint32
	ext     int64 // ticks since the first packet
	start   time.Duration
}

func (c *rtpClock) pts(ts uint32, now, t0 time.Time) time.Duration {
	if !c.started {
		c.started, c.last, c.start = true, ts, now.Sub(t0)
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return c.start + relay.TicksToDuration(c.ext, c.rate)
}

// newHandler returns the handler of a track's codec. Called with mu held.
func (ss *session) newHandler(track *webrtc.TrackRemote) (*trackHandler, error) {
	c := track.Codec()
	switch {
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeH264):
		return ss.newH264(uint32(track.SSRC()))
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeVP8):
		return ss.newVP8(uint32(track.SSRC()))
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus):
		ch := int(c.Channels)
		if ch <= 0 {
			ch = 2
		}
		h := &trackHandler{clock: rtpClock{rate: 48000}}
		var cur *relay.Track
		h.packet = func(pkt *rtp.Packet, now time.Time) {
			if len(pkt.Payload) == 0 {
				return // padding only
			}
			if cur == nil {
				cur = ss.setTrack(relay.NewOpusTrack(ch))
			}
			d := h.clock.pts(pkt.Timestamp, now, ss.t0)
			ss.write(&relay.Frame{Track: cur, DTS: d, PTS: d, Key: true, Units: [][]byte{pkt.Payload}})
		}
		return h, nil
	}
	return nil, fmt.Errorf("unsupported codec %s", c.MimeType)
}

// newH264 decodes H.264. Browsers send no B-frames (DTS = PTS), but another Beffroi pushing an
// RTMP source over WHIP may: the RTP timestamp is the presentation time, and the decoding time
// is worked out from the picture order (mediacommon's DTSExtractor). The parameter sets come
// in band with every keyframe.
func (ss *session) newH264(ssrc uint32) (*trackHandler, error) {
	dec := &rtph264.Decoder{PacketizationMode: 1} // mode 1 also reads mode 0's single units
	if err := dec.Init(); err != nil {
		return nil, err
	}
	h := &trackHandler{clock: rtpClock{rate: 90000}}
	var (
		vp        = relay.VideoParams{Codec: relay.H264}
		needKey   = true
		buffered  bool // the decoder holds units of the access unit at bufTS
		bufTS     uint32
		bufPTS    time.Duration
		lastError time.Time
		dtsx      *h264.DTSExtractor // nil until a keyframe (it must start on one)
	)
	// Lost packets: drop what follows until a keyframe, and ask for one now rather than
	// wait for the regular request.
	h.damaged = func(now time.Time) {
		needKey = true
		ss.askKeyframeNow(ssrc, now)
	}
	h.packet = func(pkt *rtp.Packet, now time.Time) {
		if len(pkt.Payload) == 0 {
			// Padding only: browsers probe the bandwidth with it (on the media stream when
			// RTX is not negotiated). It is no damage, and must not make us wait for a
			// keyframe.
			return
		}
		pts := h.clock.pts(pkt.Timestamp, now, ss.t0)
		au, err := dec.Decode(pkt)
		switch {
		case errors.Is(err, rtph264.ErrMorePacketsNeeded):
			if !buffered {
				buffered, bufTS, bufPTS = true, pkt.Timestamp, pts
			}
			return
		case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
			return
		case err != nil:
			buffered = false
			h.damaged(now)
			if now.Sub(lastError) > 10*time.Second {
				lastError = now
				ss.log.Warn("damaged H.264 dropped (one line per 10 s at most)", "error", err)
			}
			return
		}
		// The decoder also splits access units on a timestamp change (a sender that never
		// sets the marker bit): it then returns the unit it held.
		if buffered && bufTS != pkt.Timestamp {
			pts, bufTS, bufPTS = bufPTS, pkt.Timestamp, pts
		} else {
			buffered = false
		}
		au = dropEmpty(au)
		picture, changed, err := vp.Update(au)
		if err != nil && now.Sub(lastError) > 10*time.Second {
			lastError = now
			ss.log.Warn("invalid H.264 parameter sets", "error", err)
		}
		if changed {
			ss.log.Info("video parameters", "codec", "H264", "width", vp.Track.Width, "height", vp.Track.Height)
			vp.Track = ss.setTrack(vp.Track)
		}
		if !picture || vp.Track == nil {
			return
		}
		key := h264.IsRandomAccess(au)
		if needKey && !key {
			return // the PLI brings one
		}
		needKey = false
		dts := pts
		if key && dtsx == nil {
			dtsx = &h264.DTSExtractor{}
			dtsx.Initialize()
		}
		if dtsx != nil {
			ticks := relay.DurationToTicks(pts, 90000)
			if d, err := dtsx.Extract(au, ticks); err == nil {
				dts = pts - relay.TicksToDuration(ticks-d, 90000)
			} else {
				dtsx = nil // start again at the next keyframe; meanwhile DTS = PTS
			}
		}
		ss.write(&relay.Frame{Track: vp.Track, DTS: dts, PTS: pts, Key: key, Units: au})
	}
	return h, nil
}

// newVP8 decodes VP8, reading the picture size from keyframes.
func (ss *session) newVP8(ssrc uint32) (*trackHandler, error) {
	dec := &rtpvp8.Decoder{}
	if err := dec.Init(); err != nil {
		return nil, err
	}
	h := &trackHandler{clock: rtpClock{rate: 90000}}
	h.damaged = func(now time.Time) { ss.askKeyframeNow(ssrc, now) }
	var (
		cur   *relay.Track
		w, ht int // the size of the last keyframe (SameParams ignores the size of VP8 tracks)
	)
	h.packet = func(pkt *rtp.Packet, now time.Time) {
		if len(pkt.Payload) == 0 {
			return // padding only (bandwidth probing)
		}
		pts := h.clock.pts(pkt.Timestamp, now, ss.t0)
		frame, err := dec.Decode(pkt)
		if err != nil || len(frame) == 0 {
			return
		}
		// RFC 6386 9.1: bit 0 of the frame tag is 0 on keyframes, whose header then holds
		// a start code and the 14-bit width and height.
		key := frame[0]&1 == 0
		if key && len(frame) >= 10 {
			kw := int(binary.LittleEndian.Uint16(frame[6:8]) & 0x3fff)
			kh := int(binary.LittleEndian.Uint16(frame[8:10]) & 0x3fff)
			if cur == nil || kw != w || kh != ht {
				w, ht = kw, kh
				ss.log.Info("video parameters", "codec", "VP8", "width", w, "height", ht)
				cur = ss.setTrack(&relay.Track{Codec: relay.VP8, Width: w, Height: ht})
			}
		}
		if cur == nil {
			return
		}
		ss.write(&relay.Frame{Track: cur, DTS: pts, PTS: pts, Key: key, Units: [][]byte{frame}})
	}
	return h, nil
}

// dropEmpty removes empty units (the codec helpers read each unit's first byte).
func dropEmpty(au [][]byte) [][]byte {
	out := au[:0:0]
	for _, n := range au {
		if len(n) > 0 {
			out = append(out, n)
		}
	}
	return out
}
