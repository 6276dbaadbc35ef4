package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/relay"
)

// rtpSource is what a server session (a publisher's RECORD) and a client (a camera's PLAY)
// both offer: a callback per RTP packet received, and each packet's presentation time.
type rtpSource interface {
	OnPacketRTP(medi *description.Media, forma format.Format, cb gortsplib.OnPacketRTPFunc)
	PacketPTS(medi *description.Media, pkt *rtp.Packet) (int64, bool)
}

var (
	_ rtpSource = (*gortsplib.ServerSession)(nil)
	_ rtpSource = (*gortsplib.Client)(nil)
)

// errNoTrack says that a session description holds no codec Beffroi relays.
var errNoTrack = errors.New("no supported track (video: H.264, H.265; audio: AAC, Opus)")

// mediaErrorInterval is the shortest time between two log lines about one session's damaged
// media: a camera on a lossy network would otherwise write a line per packet.
const mediaErrorInterval = 10 * time.Second

// feeder turns the RTP packets of one session into relay frames. It picks one video and one
// audio format among the session's medias (a stream carries one track of each kind), decodes
// their packets into access units, and timestamps them.
type feeder struct {
	log     *slog.Logger
	tracks  []*feedTrack // the chosen formats
	ignored []string     // what was left out, for the log

	// mu serialises the relay calls: with UDP, each media's packets arrive on its own goroutine.
	mu     sync.Mutex
	pub    *relay.Publisher
	failed bool // the relay refused a frame (the publisher was replaced), or decoding panicked

	// broken is closed when decoding a packet panicked: whoever runs the session closes it
	// (a packet callback cannot: a gortsplib client's Close waits for the callback).
	broken    chan struct{}
	breakOnce sync.Once
	// onPacket, when set, runs before each packet is decoded: tests make it panic.
	onPacket func()

	errs mediaErrors
}

// feedTrack is one chosen format and what decodes it.
type feedTrack struct {
	media  *description.Media
	format format.Format
	codec  relay.Codec
	// cur is the relay track the frames carry; nil while the parameter sets are unknown (an
	// H.264 camera that sends them in-band only).
	cur *relay.Track
	// packet decodes one RTP packet whose presentation time is pts, in clock-rate ticks, and
	// publishes the access units it completes. Called with the feeder's mu held.
	packet func(pkt *rtp.Packet, pts int64)
	// waiting is set once the wait for in-band parameter sets was logged.
	waiting bool
}

// newFeeder chooses the formats to relay among medias.
func newFeeder(medias []*description.Media, log *slog.Logger) (*feeder, error) {
	f := &feeder{log: log, errs: mediaErrors{log: log}, broken: make(chan struct{})}
	var haveVideo, haveAudio bool
	for _, m := range medias {
		if m.IsBackChannel {
			continue
		}
		for _, forma := range m.Formats {
			t, err := f.newTrack(m, forma)
			name := formatName(forma)
			switch {
			case err != nil:
				f.ignored = append(f.ignored, name+" ("+err.Error()+")")
				continue
			case t == nil:
				f.ignored = append(f.ignored, name)
				continue
			case t.codec.Kind() == relay.Video && haveVideo, t.codec.Kind() == relay.Audio && haveAudio:
				f.ignored = append(f.ignored, name+" (a stream carries one video and one audio track)")
				continue
			}
			haveVideo = haveVideo || t.codec.Kind() == relay.Video
			haveAudio = haveAudio || t.codec.Kind() == relay.Audio
			f.tracks = append(f.tracks, t)
			break // one format per media: the others are alternatives the sender may switch to
		}
	}
	if len(f.tracks) == 0 {
		if len(f.ignored) > 0 {
			return nil, fmt.Errorf("%w; offered: %s", errNoTrack, strings.Join(f.ignored, ", "))
		}
		return nil, errNoTrack
	}
	return f, nil
}

// formatName names a gortsplib format for the log ("VP8", "G711", ...).
func formatName(forma format.Format) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", forma), "*format.")
}

// newTrack returns the decoder of a supported format, nil for an unsupported one.
func (f *feeder) newTrack(m *description.Media, forma format.Format) (*feedTrack, error) {
	switch forma := forma.(type) {
	case *format.H264:
		return f.newH264(m, forma)
	case *format.H265:
		return f.newH265(m, forma)
	case *format.MPEG4Audio:
		return f.newAAC(m, forma)
	case *format.Opus:
		ch := forma.ChannelCount
		if ch <= 0 {
			ch = 2
		}
		t := &feedTrack{media: m, format: forma, codec: relay.Opus,
			cur: relay.NewOpusTrack(ch)}
		t.packet = func(pkt *rtp.Packet, pts int64) {
			if len(pkt.Payload) == 0 {
				f.errs.add(errors.New("opus: empty packet"), 0)
				return
			}
			d := relay.TicksToDuration(pts, 48000)
			f.write(&relay.Frame{Track: t.cur, DTS: d, PTS: d, Key: true, Units: [][]byte{pkt.Payload}})
		}
		return t, nil
	}
	return nil, nil
}

// describe lists the tracks for the log: "H264 1280x720, AAC".
func (f *feeder) describe() string {
	parts := make([]string, 0, len(f.tracks))
	for _, t := range f.tracks {
		switch {
		case t.cur == nil:
			parts = append(parts, string(t.codec)+" (parameters in-band)")
		case t.cur.Width > 0:
			parts = append(parts, fmt.Sprintf("%s %dx%d", t.codec, t.cur.Width, t.cur.Height))
		default:
			parts = append(parts, string(t.codec))
		}
	}
	return strings.Join(parts, ", ")
}

// medias returns the medias of the chosen formats (what a client must set up).
func (f *feeder) medias() []*description.Media {
	ms := make([]*description.Media, len(f.tracks))
	for i, t := range f.tracks {
		ms[i] = t.media
	}
	return ms
}

// start declares the tracks known from the session description to pub and installs the
// packet callbacks on src. Call it before media flows (in OnRecord, before PLAY).
func (f *feeder) start(pub *relay.Publisher, src rtpSource) {
	f.mu.Lock()
	f.pub = pub
	for _, t := range f.tracks {
		if t.cur != nil {
			t.cur = f.setTrack(t.cur)
		}
	}
	f.mu.Unlock()
	for _, t := range f.tracks {
		src.OnPacketRTP(t.media, t.format, func(pkt *rtp.Packet) {
			// No PTS before the first packet a decoder can start from (an H.264 IDR): that
			// packet anchors the timeline.
			defer func() {
				if v := recover(); v != nil {
					f.panicked(v)
				}
			}()
			pts, ok := src.PacketPTS(t.media, pkt)
			if !ok {
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.failed {
				if f.onPacket != nil {
					f.onPacket()
				}
				t.packet(pkt, pts)
			}
		})
	}
}

// panicked stops a session whose packet decoding panicked (a decoder on a stranger's bytes):
// one log line, no more packets, and broken closed for whoever runs the session.
func (f *feeder) panicked(v any) {
	f.mu.Lock()
	f.failed = true
	f.mu.Unlock()
	f.breakOnce.Do(func() {
		guard.LogPanic(f.log, "rtsp packet decoder", v)
		close(f.broken)
	})
}

// setTrack declares t to the relay and returns the track frames must carry. Called with mu held.
func (f *feeder) setTrack(t *relay.Track) *relay.Track {
	cur, err := f.pub.SetTrack(t)
	if err != nil {
		f.failed = true
		return t
	}
	return cur
}

// write publishes a frame. Called with mu held.
func (f *feeder) write(fr *relay.Frame) {
	if fr.Track.Kind() == relay.Audio && f.videoWaiting() {
		// Audio alone would make destinations start without video: hold it back until the
		// video's parameter sets arrive (usually with the first keyframe).
		return
	}
	if err := f.pub.WriteFrame(fr); err != nil {
		f.failed = true
	}
}

// videoWaiting reports whether the video track still waits for its parameter sets.
func (f *feeder) videoWaiting() bool {
	for _, t := range f.tracks {
		if t.codec.Kind() == relay.Video && t.cur == nil {
			return true
		}
	}
	return false
}

// waitParams logs, once per track, that frames are dropped until the parameter sets come.
func (f *feeder) waitParams(t *feedTrack) {
	if !t.waiting {
		t.waiting = true
		f.log.Info("waiting for the video parameter sets: the session description has none, frames are dropped until they arrive in-band",
			"codec", string(t.codec))
	}
}

// auTimer gives an access unit returned by an RTP decoder the PTS of its own packets. The
// H.264 decoder also splits access units by timestamp, for cameras that never set the marker
// bit: it then returns the previous access unit when the first packet of the next one comes.
type auTimer struct {
	buffered bool // the decoder holds units of the access unit at ts
	ts       uint32
	pts      int64
}

// decoded returns the PTS of the access unit the decoder returned after pkt.
func (a *auTimer) decoded(pkt *rtp.Packet, pts int64) int64 {
	if a.buffered && a.ts != pkt.Timestamp {
		// It returned what it held, and now holds pkt's units.
		held := a.pts
		a.ts, a.pts = pkt.Timestamp, pts
		return held
	}
	a.buffered = false
	return pts
}

// more records that the decoder waits for more packets.
func (a *auTimer) more(pkt *rtp.Packet, pts int64) {
	if !a.buffered {
		a.buffered, a.ts, a.pts = true, pkt.Timestamp, pts
	}
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

func (f *feeder) newH264(m *description.Media, forma *format.H264) (*feedTrack, error) {
	dec, err := forma.CreateDecoder()
	if err != nil {
		return nil, err
	}
	t := &feedTrack{media: m, format: forma, codec: relay.H264}
	if forma.SPS != nil && forma.PPS != nil {
		if t.cur, err = relay.NewH264Track(forma.SPS, forma.PPS); err != nil {
			f.log.Warn("ignored the H.264 parameters of the session description", "error", err)
		}
	}
	var (
		timer   auTimer
		dts     h264.DTSExtractor
		needKey = true // the DTS extractor starts on a random access unit
		vp      = relay.VideoParams{Codec: relay.H264, Track: t.cur}
	)
	dts.Initialize()
	t.packet = func(pkt *rtp.Packet, pts int64) {
		au, err := dec.Decode(pkt)
		switch {
		case errors.Is(err, rtph264.ErrMorePacketsNeeded):
			timer.more(pkt, pts)
			return
		case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
			return // joined in the middle of a fragmented unit
		case err != nil:
			timer.buffered = false
			f.errs.add(fmt.Errorf("h264: %w", err), 0)
			return
		}
		pts = timer.decoded(pkt, pts)
		au = dropEmpty(au)

		if !f.videoParams(t, &vp, au) {
			return
		}
		if t.cur == nil {
			f.waitParams(t)
			return
		}
		key := h264.IsRandomAccess(au)
		if needKey && !key {
			return
		}
		// RTP carries the PTS only; the DTS extractor reads the picture order from the slice
		// headers, and needs the SPS in front of every random access unit.
		in := au
		if key {
			in = append([][]byte{t.cur.SPS, t.cur.PPS}, au...)
		}
		d, err := dts.Extract(in, pts)
		if err != nil {
			dts = h264.DTSExtractor{}
			dts.Initialize()
			needKey = true
			f.errs.add(fmt.Errorf("h264 timestamps: %w", err), 0)
			return
		}
		needKey = false
		f.write(&relay.Frame{Track: t.cur, DTS: relay.TicksToDuration(d, 90000), PTS: relay.TicksToDuration(pts, 90000), Key: key, Units: au})
	}
	return t, nil
}

func (f *feeder) newH265(m *description.Media, forma *format.H265) (*feedTrack, error) {
	dec, err := forma.CreateDecoder()
	if err != nil {
		return nil, err
	}
	t := &feedTrack{media: m, format: forma, codec: relay.H265}
	if forma.VPS != nil && forma.SPS != nil && forma.PPS != nil {
		if t.cur, err = relay.NewH265Track(forma.VPS, forma.SPS, forma.PPS); err != nil {
			f.log.Warn("ignored the H.265 parameters of the session description", "error", err)
		}
	}
	var (
		timer   auTimer
		dts     h265.DTSExtractor
		needKey = true
		vp      = relay.VideoParams{Codec: relay.H265, Track: t.cur}
	)
	dts.Initialize()
	t.packet = func(pkt *rtp.Packet, pts int64) {
		au, err := dec.Decode(pkt)
		switch {
		case errors.Is(err, rtph265.ErrMorePacketsNeeded):
			timer.more(pkt, pts)
			return
		case errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
			return
		case err != nil:
			timer.buffered = false
			f.errs.add(fmt.Errorf("h265: %w", err), 0)
			return
		}
		pts = timer.decoded(pkt, pts)
		au = dropEmpty(au)

		if !f.videoParams(t, &vp, au) {
			return
		}
		if t.cur == nil {
			f.waitParams(t)
			return
		}
		key := h265.IsRandomAccess(au)
		if needKey && !key {
			return
		}
		in := au
		if key {
			in = append([][]byte{t.cur.VPS, t.cur.SPS, t.cur.PPS}, au...)
		}
		d, err := dts.Extract(in, pts)
		if err != nil {
			dts = h265.DTSExtractor{}
			dts.Initialize()
			needKey = true
			f.errs.add(fmt.Errorf("h265 timestamps: %w", err), 0)
			return
		}
		needKey = false
		f.write(&relay.Frame{Track: t.cur, DTS: relay.TicksToDuration(d, 90000), PTS: relay.TicksToDuration(pts, 90000), Key: key, Units: au})
	}
	return t, nil
}

// videoParams follows the parameter sets of an access unit (an encoder changing resolution
// makes a new track, which readers receive as new decoder parameters; they may come in
// separate access units) and reports whether the unit holds a picture.
func (f *feeder) videoParams(t *feedTrack, vp *relay.VideoParams, au [][]byte) bool {
	picture, changed, err := vp.Update(au)
	if err != nil {
		f.errs.add(err, 0)
	}
	if changed {
		if t.cur == nil {
			f.log.Info("video parameters received in-band", "codec", string(vp.Codec),
				"width", vp.Track.Width, "height", vp.Track.Height)
		}
		vp.Track = f.setTrack(vp.Track)
		t.cur = vp.Track
	}
	return picture
}

func (f *feeder) newAAC(m *description.Media, forma *format.MPEG4Audio) (*feedTrack, error) {
	if forma.Config == nil {
		return nil, errors.New("no AudioSpecificConfig")
	}
	asc, err := forma.Config.Marshal()
	if err != nil {
		return nil, err
	}
	cur, err := relay.NewAACTrack(asc)
	if err != nil {
		return nil, err
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return nil, err
	}
	clock := int64(forma.ClockRate())
	if clock <= 0 {
		return nil, errors.New("no sample rate")
	}
	t := &feedTrack{media: m, format: forma, codec: relay.AAC, cur: cur}
	t.packet = func(pkt *rtp.Packet, pts int64) {
		aus, err := dec.Decode(pkt)
		switch {
		case errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded):
			return
		case err != nil:
			f.errs.add(fmt.Errorf("aac: %w", err), 0)
			return
		}
		// One packet may carry several access units, of 1024 samples each.
		for i, au := range aus {
			d := relay.TicksToDuration(pts+int64(i)*mpeg4audio.SamplesPerAccessUnit, clock)
			f.write(&relay.Frame{Track: t.cur, DTS: d, PTS: d, Key: true, Units: [][]byte{au}})
		}
	}
	return t, nil
}

// mediaErrors counts what was dropped from one session's media and logs it at most once per
// mediaErrorInterval.
type mediaErrors struct {
	log *slog.Logger

	mu     sync.Mutex
	next   time.Time
	errors uint64
	lost   uint64
	last   string
}

// add counts an undecodable packet (err) or lost packets.
func (m *mediaErrors) add(err error, lost uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.errors++
		m.last = err.Error()
	}
	m.lost += lost
	now := time.Now()
	if now.Before(m.next) {
		return
	}
	m.next = now.Add(mediaErrorInterval)
	m.flushLocked()
}

// flush logs what was counted since the last line (at the end of a session).
func (m *mediaErrors) flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushLocked()
}

func (m *mediaErrors) flushLocked() {
	if m.errors == 0 && m.lost == 0 {
		return
	}
	args := []any{"undecodable", m.errors, "lost_packets", m.lost}
	if m.last != "" {
		args = append(args, "last_error", redact(m.last))
	}
	m.log.Warn("damaged media dropped (one line per 10 s at most)", args...)
	m.errors, m.lost, m.last = 0, 0, ""
}
