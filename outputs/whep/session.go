package whep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// session is one viewer: one PeerConnection fed by one relay reader.
type session struct {
	srv    *Server
	id     string
	stream *relay.Stream
	pc     *webrtc.PeerConnection
	log    *slog.Logger

	video, audio *outTrack // nil when not sent
	// src is what the viewer reads: the stream, or its rendition (Opus made from AAC).
	src       *relay.Stream
	rendition bool
	release   func() // the rendition, if any
	// pending gives back the session's pending slot of the caps (rtcnet.Admission): when it
	// connects, or ends.
	pending func()
	// uncounted: the viewer is the operators' console previewing the stream, not audience.
	uncounted bool

	ctx       context.Context
	cancel    context.CancelFunc
	connected chan struct{} // closed once ICE and DTLS are up
	done      chan struct{} // closed once the session is torn down
	wg        sync.WaitGroup

	connOnce   sync.Once
	reasonOnce sync.Once
	reason     string

	// delay is how long frames published after the viewer joined waited between the relay
	// and the viewer's socket, by kind. Written by the playing goroutine, read once it ended.
	delay [2]delayStats
}

// outTrack is one track sent to the viewer, with this viewer's RTP numbering.
type outTrack struct {
	codec relay.Codec
	rate  int64
	track *sharedTrack
	seq   uint16
	base  uint32 // RTP timestamp of PTS 0: random, as RFC 3550 asks
}

// write sends a frame's payloads (shared by every viewer) with this viewer's headers; pts
// is the frame's time on the viewer's timeline.
func (o *outTrack) write(f *relay.Frame, pts time.Duration) error {
	pl := framePayloads(f)
	ts := o.base + uint32(relay.DurationToTicks(pts, o.rate)) //nolint:gosec // RTP timestamps wrap
	video := f.Track.Kind() == relay.Video
	for i, p := range pl {
		h := &rtp.Header{
			Version: 2, SequenceNumber: o.seq, Timestamp: ts,
			Marker: video && i == len(pl)-1, // the last packet of a video frame
		}
		o.seq++
		if err := o.track.writeRTP(h, p); err != nil && !errors.Is(err, errNotBound) {
			return err
		}
	}
	return nil
}

func newOutTrack(c webrtc.RTPCodecParameters, codec relay.Codec, id string) *outTrack {
	kind, rate := webrtc.RTPCodecTypeVideo, int64(90000)
	if codec == relay.Opus {
		kind, rate = webrtc.RTPCodecTypeAudio, 48000
	}
	return &outTrack{
		codec: codec, rate: rate, track: newSharedTrack(c.RTPCodecCapability, kind, id),
		seq: uint16(rand.Uint32()), base: rand.Uint32(), //nolint:gosec // random starts, not secrets
	}
}

func (ss *session) videoCodec() string {
	if ss.video == nil {
		return "none"
	}
	return string(ss.video.codec)
}

func (ss *session) audioCodec() string {
	if ss.audio == nil {
		return "none"
	}
	return string(ss.audio.codec)
}

// start answers an offer and starts a session. Refusals are *httpError.
func (s *Server) start(st *relay.Stream, id string, d *sdp.SessionDescription, offer string, pending func(), uncounted bool, log *slog.Logger) (*session, string, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{ICEServers: s.cfg.Net.ICEServers()})
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ss := &session{
		srv: s, id: id, stream: st, src: st, pc: pc, log: log, release: func() {}, pending: pending,
		uncounted: uncounted, ctx: ctx, cancel: cancel, connected: make(chan struct{}), done: make(chan struct{}),
	}
	started := false
	defer func() {
		if !started { // an error, or a panic on its way up
			cancel()
			ss.release()
			_ = pc.Close()
		}
	}()
	fail := func(err error) (*session, string, error) { return nil, "", err }
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(refuse(http.StatusBadRequest, "invalid SDP offer: %v", err))
	}
	if err := ss.addTracks(d); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(refuse(http.StatusBadRequest, "cannot answer the offer: %v", err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("set answer: %w", err))
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return fail(errors.New("ICE gathering did not complete"))
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fail(refuse(http.StatusServiceUnavailable, "server shutting down"))
	}
	s.byID[id] = ss
	s.sessions.Add(1)
	s.mu.Unlock()
	started = true

	// pion runs each callback on a goroutine of its own: a panic there would end the process.
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		defer rtcnet.Recover(ss.log, "connection state callback", ss.stop)
		ss.hook("state")
		switch state {
		case webrtc.PeerConnectionStateConnected:
			ss.connOnce.Do(func() {
				ss.pending() // connected: no longer pending
				close(ss.connected)
			})
		case webrtc.PeerConnectionStateFailed:
			ss.stop("connection failed (ICE or DTLS)")
		case webrtc.PeerConnectionStateClosed:
			ss.stop("connection closed")
		}
	})
	go ss.run()
	return ss, pc.LocalDescription().SDP, nil
}

// addTracks chooses what to send on each transceiver the offer made, from the stream's
// tracks and the codecs both sides have, and moves the session onto the WebRTC viewers'
// rendition when the stream needs one (Opus of an AAC source, video without B-frames).
// Called between SetRemoteDescription and CreateAnswer.
func (ss *session) addTracks(d *sdp.SessionDescription) error {
	st := ss.stream
	srcVideo, srcAudio := st.Track(relay.Video), st.Track(relay.Audio)
	var vtr, atr *webrtc.RTPTransceiver
	for _, tr := range ss.pc.GetTransceivers() {
		switch {
		case tr.Kind() == webrtc.RTPCodecTypeVideo && vtr == nil:
			vtr = tr
		case tr.Kind() == webrtc.RTPCodecTypeAudio && atr == nil:
			atr = tr
		}
	}
	var videoCodec, audioCodec webrtc.RTPCodecParameters
	sendVideo, sendAudio := false, false
	if vtr != nil && srcVideo != nil {
		m := mimeOf(srcVideo.Codec)
		if m == "" || srcVideo.Kind() != relay.Video {
			return refuse(http.StatusUnsupportedMediaType,
				"the stream's video is %s, which WebRTC players cannot receive from Beffroi (H.264 or VP8 only): watch it over HLS", srcVideo.Codec)
		}
		c, ok := pickCodec(vtr.Receiver().GetParameters().Codecs, m)
		if !ok {
			return refuse(http.StatusUnsupportedMediaType,
				"no codec in common: the stream's video is %s (packetization mode 1 for H.264), the offer's video accepts %s", srcVideo.Codec, offeredCodecs(d, "video"))
		}
		videoCodec, sendVideo = c, true
	}
	if atr != nil && srcAudio != nil {
		c, ok := pickCodec(atr.Receiver().GetParameters().Codecs, webrtc.MimeTypeOpus)
		if ok {
			audioCodec, sendAudio = c, true
		} else {
			ss.log.Info("the offer takes no Opus: playing without audio", "offered", offeredCodecs(d, "audio"))
		}
	}
	bframes := sendVideo && transcode.HasBFrames(st)
	if sendAudio && srcAudio.Codec != relay.Opus && srcVideo != nil && !needs().Fits(srcVideo, nil) {
		return refuse(http.StatusUnsupportedMediaType, "the stream's video is %s: watch it over HLS", srcVideo.Codec)
	}
	if bframes || sendAudio && srcAudio.Codec != relay.Opus {
		// Made by ffmpeg, shared by every viewer; the answer waits for its first frames (at
		// most transcode.FitTimeout), so that the viewer's reader starts at once when it
		// connects.
		if err := ss.fit(); err != nil {
			if bframes {
				return refuse(http.StatusUnsupportedMediaType,
					"the stream's video has B-frames, which WebRTC players show as a slideshow, and no rendition without them "+
						"could be made (%v): watch it over HLS, or set the encoder's B-frames to 0", err)
			}
			ss.log.Warn("no Opus rendition: playing an "+string(srcAudio.Codec)+" source without audio", "error", err)
			sendAudio = false
		}
	}
	if sendVideo {
		t, err := ss.addTrack(vtr, videoCodec, srcVideo.Codec, "video")
		if err != nil {
			return err
		}
		ss.video = t
	}
	if sendAudio {
		t, err := ss.addTrack(atr, audioCodec, relay.Opus, "audio")
		if err != nil {
			return err
		}
		ss.audio = t
	}
	if ss.video == nil && ss.audio == nil {
		var have []string
		if srcVideo != nil {
			have = append(have, "video "+string(srcVideo.Codec))
		}
		if srcAudio != nil {
			have = append(have, "audio "+string(srcAudio.Codec)+" (sent as Opus)")
		}
		return refuse(http.StatusUnsupportedMediaType,
			"no codec in common: the stream has %v, the offer receives none of them", have)
	}
	return nil
}

// fit makes the session read the stream WebRTC viewers share (see needs): the source, or
// its rendition, which Fit returns once it has media.
func (ss *session) fit() error {
	if ss.srv.cfg.Renditions == nil {
		return errors.New("renditions (ffmpeg) are not available")
	}
	rs, release, err := ss.srv.cfg.Renditions.Fit(ss.ctx, ss.stream, needs())
	if err != nil {
		return err
	}
	ss.release()
	ss.release, ss.src, ss.rendition = release, rs, rs != ss.stream
	return nil
}

// addTrack puts a track on a transceiver, answering with codec c only.
func (ss *session) addTrack(tr *webrtc.RTPTransceiver, c webrtc.RTPCodecParameters, codec relay.Codec, id string) (*outTrack, error) {
	if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{c}); err != nil {
		return nil, fmt.Errorf("codec preferences: %w", err)
	}
	t := newOutTrack(c, codec, id)
	sender, err := ss.pc.AddTrack(t.track)
	if err != nil {
		return nil, fmt.Errorf("add %s track: %w", id, err)
	}
	// RTCP from the viewer (NACKs, receiver reports) feeds pion's interceptors, which
	// retransmit what was lost. Keyframe requests get the source's next keyframe.
	ss.wg.Go(func() {
		defer rtcnet.Recover(ss.log, "RTCP reader", ss.stop)
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	})
	return t, nil
}

// stop asks the session to end, recording the first reason given.
func (ss *session) stop(reason string) {
	ss.reasonOnce.Do(func() { ss.reason = reason })
	ss.cancel()
}

// hook calls the test hook, if any.
func (ss *session) hook(where string) {
	if h := ss.srv.cfg.hook; h != nil {
		h(where)
	}
}

// run waits for the connection (ending the session if it is still pending after
// pendingTimeout), plays until the session ends, and tears it down.
func (ss *session) run() {
	defer ss.srv.sessions.Done()
	func() {
		defer rtcnet.Recover(ss.log, "session", ss.stop)
		ss.hook("session")
		timer := time.NewTimer(ss.srv.cfg.pendingTimeout)
		defer timer.Stop()
		select {
		case <-ss.connected:
			timer.Stop()
			ss.play()
		case <-timer.C:
			ss.stop("no connection after " + ss.srv.cfg.pendingTimeout.String())
		case <-ss.ctx.Done():
		}
	}()
	ss.teardown()
}

// teardown closes the session once it is stopped.
func (ss *session) teardown() {
	defer close(ss.done)
	defer ss.pending()
	defer func() {
		ss.srv.mu.Lock()
		delete(ss.srv.byID, ss.id)
		ss.srv.mu.Unlock()
	}()
	ss.cancel()
	if err := ss.pc.Close(); err != nil {
		ss.log.Debug("closing the peer connection", "error", err)
	}
	ss.wg.Wait()
	ss.release()
	ss.log.Info("WHEP session ended", "reason", ss.reason,
		"video_send_delay", ss.delay[relay.Video].String(), "audio_send_delay", ss.delay[relay.Audio].String())
}

// play counts the viewer and sends the stream until the session ends.
func (ss *session) play() {
	ss.log.Info("viewer connected", "preview", ss.uncounted)
	if a := ss.srv.audience.Load(); a != nil && !ss.uncounted {
		leave := (*a).Join(ss.stream.Name(), Protocol)
		defer leave()
	}
	r, err := ss.subscribe()
	if err != nil {
		ss.stop(err.Error())
		return
	}
	defer func() { r.Close() }() // r changes when the session moves onto the rendition
	tl := &timeline{}
	joined := time.Now()
	// After a move onto the rendition, whose timestamps are its own, its timeline starts
	// again: offset keeps the viewer's going on from the last frame sent (lastV, at lastAt).
	var offset, lastV time.Duration
	var lastAt time.Time
	rebase := false
	for {
		f, err := r.Next(ss.ctx)
		switch {
		case errors.Is(err, relay.ErrEnded):
			ss.stop("stream ended")
			return
		case err != nil:
			return // cancelled
		}
		ss.hook("frame")
		if f.Track.Kind() == relay.Video && f.PTS != f.DTS && ss.video != nil {
			// B-frames now (a publisher back with another encoder): the viewer would see a
			// slideshow.
			nr, err := ss.moveToRendition()
			if err != nil {
				ss.stop("the stream now has B-frames, which WebRTC players cannot show smoothly, and no rendition without them: " + err.Error())
				return
			}
			r.Close()
			r, tl, rebase = nr, &timeline{}, !lastAt.IsZero()
			continue
		}
		now := time.Now()
		if rebase {
			offset, rebase = lastV+now.Sub(lastAt)-f.DTS, false
		}
		v, fast := tl.at(f.DTS, now)
		if fast && f.Track.Kind() == relay.Audio {
			continue // audio cannot be played faster: the viewer's audio starts live
		}
		// Never more than a jitter buffer ahead of when the viewer shows the frame: a
		// catch-up burst is paced rather than overflowing socket buffers.
		if wait := time.Until(tl.due(v)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ss.ctx.Done():
				return
			}
		}
		if !ss.send(f, offset+v+f.PTS-f.DTS) {
			return
		}
		lastV, lastAt = offset+v, time.Now()
		if f.Published.After(joined) {
			ss.delay[f.Track.Kind()].add(time.Since(f.Published))
		}
	}
}

// delayStats sums how long frames waited between the relay and the viewer's socket.
type delayStats struct {
	n        int
	sum, max time.Duration
}

func (d *delayStats) add(x time.Duration) {
	d.n++
	d.sum += x
	d.max = max(d.max, x)
}

func (d *delayStats) String() string {
	if d.n == 0 {
		return "none"
	}
	return fmt.Sprintf("mean %s max %s over %d frames", (d.sum / time.Duration(d.n)).Round(time.Microsecond), d.max.Round(time.Microsecond), d.n)
}

// send sends a frame on the track of its kind, if the viewer receives that kind, with pts
// on the viewer's timeline. It returns false when the session must end.
func (ss *session) send(f *relay.Frame, pts time.Duration) bool {
	out := ss.audio
	if f.Track.Kind() == relay.Video {
		out = ss.video
	}
	if out == nil {
		return true // a kind the viewer does not receive
	}
	if f.Track.Codec != out.codec {
		ss.stop(fmt.Sprintf("the stream's %s codec changed to %s: the viewer must reconnect", f.Track.Kind(), f.Track.Codec))
		return false
	}
	if err := out.write(f, pts); err != nil {
		ss.stop("sending: " + err.Error())
		return false
	}
	return true
}

// moveToRendition moves a session reading the source onto the rendition without B-frames,
// and returns a reader of it.
func (ss *session) moveToRendition() (*relay.Reader, error) {
	if ss.rendition {
		return nil, errors.New("the rendition has them") // libx264 makes none: never
	}
	ss.log.Info("the stream now has B-frames: moving the viewer onto a rendition without them")
	if err := ss.fit(); err != nil {
		return nil, err
	}
	if !ss.rendition {
		return nil, errors.New("the stream's newest frames have none")
	}
	return ss.subscribe()
}

// subscribe returns a reader of the stream, or of its rendition (which Fit returned once it
// had media). It is taken when the viewer connects, so that it starts at the newest keyframe
// then.
func (ss *session) subscribe() (*relay.Reader, error) {
	r, err := ss.src.Subscribe(relay.ReaderOptions{MaxLag: ss.srv.cfg.MaxLag})
	if err != nil && ss.rendition {
		return nil, fmt.Errorf("codec fitting: the rendition %q: %w", ss.src.Name(), err)
	}
	return r, err
}
