package whip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/ingest/netstats"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/relay"
)

// session is one WHIP publisher: one PeerConnection feeding one stream.
type session struct {
	srv    *Server
	id     string
	stream *relay.Stream
	source string // the stream's source it publishes for ("" is the primary)
	pc     *webrtc.PeerConnection
	log    *slog.Logger
	remote string // the HTTP client's address, until ICE tells the media's

	ctx       context.Context
	cancel    context.CancelFunc
	connected chan struct{} // closed once ICE and DTLS are up
	connOnce  sync.Once
	done      chan struct{} // closed once the session is torn down
	// release gives back the session's pending slot of the caps (rtcnet.Admission): when it
	// connects, or ends.
	release func()

	reasonOnce sync.Once
	reason     string

	// patchMu serialises PATCH requests (trickle, ICE restarts) and guards the fields below.
	patchMu     sync.Mutex
	etag        string // names the current ICE session (its local ufrag), quoted
	remoteUfrag string

	// mu serialises the relay calls (each track is read on its own goroutine) and guards
	// the fields below.
	mu         sync.Mutex
	closing    bool
	wg         sync.WaitGroup // media goroutines
	pub        *relay.Publisher
	failed     bool // the relay refused a frame: the publisher was replaced
	wantVideo  bool // the offer has a video track: audio waits for its first keyframe
	videoStart bool // the first video keyframe was published
	t0         time.Time
	audioSince time.Time
	reorders   []*reorder // one per track, for the network counters
	ssrcs      []uint32   // the tracks' SSRCs (the NACK counts)
	keyAsked   uint64     // keyframes asked for because of damage
	lastAsk    time.Time  // when the last of them was asked for
	// askFor is the SSRC of the track a keyframe is to be asked for once mu is released,
	// when askDue (a packet handler found the video damaged).
	askFor uint32
	askDue bool
	detach func() // ends the session's part in the stream's network counters
}

// damageAskInterval is the least time between two keyframe requests made because the video
// was damaged: the encoder needs a round trip to answer, and one keyframe repairs all.
const damageAskInterval = 500 * time.Millisecond

// audioHoldLimit is how long audio waits for the first video keyframe before it is
// published alone (a publisher whose camera never sends).
const audioHoldLimit = 3 * time.Second

// start answers an offer and starts a session, which then owns release (its pending slot).
// On error it returns the HTTP status to send.
func (s *Server) start(st *relay.Stream, source, id, offer, remote string, release func(), log *slog.Logger) (*session, string, int, error) {
	cfg := webrtc.Configuration{}
	cfg.ICEServers = s.cfg.Net.ICEServers()
	pc, err := s.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, "", http.StatusInternalServerError, fmt.Errorf("new peer connection: %w", err)
	}
	started := false
	defer func() {
		if !started { // an error, or a panic on its way up
			_ = pc.GracefulClose()
		}
	}()
	gathered := webrtc.GatheringCompletePromise(pc)
	wantVideo, status, err := answerOffer(pc, offer)
	if err != nil {
		return nil, "", status, err
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return nil, "", http.StatusInternalServerError, errors.New("ICE gathering did not complete")
	}

	ctx, cancel := context.WithCancel(context.Background())
	ss := &session{
		srv: s, id: id, stream: st, source: source, pc: pc, log: log, remote: remote,
		ctx: ctx, cancel: cancel, connected: make(chan struct{}), done: make(chan struct{}),
		release: release, wantVideo: wantVideo, remoteUfrag: iceUfrag(offer),
	}
	ss.answerFrag(pc.LocalDescription().SDP) // sets the entity tag
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return nil, "", http.StatusServiceUnavailable, errors.New("server shutting down")
	}
	s.byID[id] = ss
	s.sessions.Add(1)
	s.mu.Unlock()
	started = true

	// pion runs each callback on a goroutine of its own: a panic there would end the process.
	pc.OnTrack(func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		defer rtcnet.Recover(ss.log, "track callback", ss.stop)
		ss.onTrack(track, recv)
	})
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		defer rtcnet.Recover(ss.log, "connection state callback", ss.stop)
		ss.hook("state")
		switch state {
		case webrtc.PeerConnectionStateConnected:
			ss.connOnce.Do(func() {
				ss.release() // connected: no longer pending
				close(ss.connected)
			})
			ss.startPublishing()
		case webrtc.PeerConnectionStateFailed:
			ss.stop("connection failed (ICE or DTLS)")
		case webrtc.PeerConnectionStateClosed:
			ss.stop("connection closed")
		}
	})
	go ss.run()
	return ss, pc.LocalDescription().SDP, 0, nil
}

// hook calls the test hook, if any.
func (ss *session) hook(where string) {
	if h := ss.srv.cfg.hook; h != nil {
		h(where)
	}
}

// goSafe runs f on a goroutine of the session's: a panic in it ends the session, not the
// process.
func (ss *session) goSafe(where string, f func()) {
	ss.wg.Go(func() {
		defer rtcnet.Recover(ss.log, where, ss.stop)
		f()
	})
}

// startPublishing makes the stream live, if it is not yet.
func (ss *session) startPublishing() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.publisher()
}

// answerOffer applies an offer to pc and sets its answer (H.264 first); candidates are
// then gathered. It reports whether the offer has video Beffroi takes; on error, the HTTP
// status to answer: 4xx for what the offer is, 5xx for what Beffroi failed to do.
func answerOffer(pc *webrtc.PeerConnection, offer string) (wantVideo bool, status int, err error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return false, http.StatusBadRequest, fmt.Errorf("invalid offer: %w", err)
	}
	usable, err := preferH264(pc)
	if err != nil {
		return false, http.StatusInternalServerError, fmt.Errorf("codec preferences: %w", err)
	}
	if !usable {
		return false, http.StatusUnsupportedMediaType,
			errors.New("no codec Beffroi takes (video: H.264 or VP8; audio: Opus)")
	}
	for _, tr := range pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeVideo && len(tr.Receiver().GetParameters().Codecs) > 0 {
			wantVideo = true
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return false, http.StatusBadRequest, fmt.Errorf("create answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return false, http.StatusInternalServerError, fmt.Errorf("set answer: %w", err)
	}
	return wantVideo, 0, nil
}

// stop asks the session to end, recording the first reason given.
func (ss *session) stop(reason string) {
	ss.reasonOnce.Do(func() { ss.reason = reason })
	ss.cancel()
}

// run waits for the end of the session and tears it down. A session still pending after
// pendingTimeout is ended.
func (ss *session) run() {
	defer ss.srv.sessions.Done()
	func() {
		defer rtcnet.Recover(ss.log, "session", ss.stop)
		ss.hook("session")
		timer := time.NewTimer(ss.srv.cfg.pendingTimeout)
		defer timer.Stop()
		select {
		case <-ss.connected:
		case <-timer.C:
			ss.stop("no connection after " + ss.srv.cfg.pendingTimeout.String())
		case <-ss.ctx.Done():
		}
		<-ss.ctx.Done()
	}()
	ss.teardown()
}

// teardown closes the session once it is stopped.
func (ss *session) teardown() {
	defer close(ss.done)
	defer ss.release()
	defer func() {
		ss.srv.mu.Lock()
		delete(ss.srv.byID, ss.id)
		ss.srv.mu.Unlock()
	}()
	ss.mu.Lock()
	ss.closing = true
	detach := ss.detach
	ss.mu.Unlock()
	if err := ss.pc.GracefulClose(); err != nil {
		ss.log.Debug("closing the peer connection", "error", err)
	}
	ss.wg.Wait()
	if detach != nil {
		detach()
	}
	ss.mu.Lock()
	for _, ssrc := range ss.ssrcs {
		ss.srv.nacks.forget(ssrc)
	}
	if ss.pub != nil {
		ss.pub.Close()
	}
	ss.mu.Unlock()
	ss.log.Info("WHIP session ended", "reason", ss.reason)
}

// publisher returns the session's relay publisher, making the stream live at the first
// call. Called with mu held.
func (ss *session) publisher() *relay.Publisher {
	if ss.pub != nil || ss.closing {
		return ss.pub
	}
	pub, err := ss.stream.PublishSource(ss.source, relay.SourceInfo{Protocol: protocol, RemoteAddr: ss.mediaAddr()})
	if err != nil {
		// The source was removed since the offer was accepted.
		ss.log.Warn("publish refused", "error", err)
		ss.stop("source removed")
		return nil
	}
	ss.pub = pub
	ss.log.Info("publisher connected", "media_from", ss.mediaAddr())
	ss.detach = ss.srv.net.Attach(ss.stream, ss.counters)
	ss.goSafe("publisher", func() {
		select {
		case <-pub.Done():
			ss.stop("replaced by a newer publisher")
		case <-ss.ctx.Done():
		}
	})
	return ss.pub
}

// mediaAddr is where the media comes from: the selected ICE pair's remote end, else the
// HTTP client.
func (ss *session) mediaAddr() string {
	for _, r := range ss.pc.GetReceivers() {
		if t := r.Transport(); t != nil && t.ICETransport() != nil {
			if p, err := t.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil && p.Remote != nil {
				return net.JoinHostPort(p.Remote.Address, strconv.Itoa(int(p.Remote.Port)))
			}
		}
	}
	return ss.remote
}

// onTrack starts reading a track the publisher sends.
func (ss *session) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.hook("track")
	if ss.closing {
		return
	}
	c := track.Codec()
	h, err := ss.newHandler(track)
	if err != nil {
		ss.log.Warn("track ignored", "codec", c.MimeType, "error", err)
		return
	}
	ss.log.Info("track received", "kind", track.Kind().String(), "codec", c.MimeType, "fmtp", c.SDPFmtpLine)
	ss.publisher()
	// RTCP from the publisher (sender reports) feeds pion's interceptors.
	ss.goSafe("RTCP reader", func() {
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	})
	ro := &reorder{}
	ss.reorders = append(ss.reorders, ro)
	ss.ssrcs = append(ss.ssrcs, uint32(track.SSRC()))
	ss.goSafe("RTP reader", func() { ss.readRTP(track, h, ro) })
	if track.Kind() == webrtc.RTPCodecTypeVideo {
		ss.goSafe("keyframe requests", func() { ss.askKeyframes(track) })
	}
}

// askKeyframes sends a PLI now and every KeyframeInterval: browsers send a keyframe only
// when asked, and platforms want one every 2 s.
func (ss *session) askKeyframes(track *webrtc.TrackRemote) {
	t := time.NewTicker(ss.srv.cfg.KeyframeInterval)
	defer t.Stop()
	for {
		ss.sendPLI(uint32(track.SSRC()))
		select {
		case <-ss.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readRTP feeds a track's packets, in sequence order, to its handler until the connection
// closes.
func (ss *session) readRTP(track *webrtc.TrackRemote, h *trackHandler, ro *reorder) {
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		ss.packet(pkt, ro, h)
	}
}

// packet hands a packet to its track's handler, in sequence order, then sends the keyframe
// request the handler asked for, if any (outside mu: it writes to the network).
func (ss *session) packet(pkt *rtp.Packet, ro *reorder, h *trackHandler) {
	if ssrc, ask := ss.handle(pkt, ro, h); ask {
		ss.sendPLI(ssrc)
	}
}

// handle does packet's work under mu, and returns the keyframe request due.
func (ss *session) handle(pkt *rtp.Packet, ro *reorder, h *trackHandler) (ssrc uint32, ask bool) {
	now := time.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock() // a panic in a handler must not leave mu held
	ss.hook("rtp")
	if !ss.failed && ss.pub != nil {
		if ss.t0.IsZero() {
			ss.t0 = now
		}
		skipped := ro.skipped
		for _, p := range ro.push(pkt, now) {
			h.packet(p, now)
		}
		if ro.skipped != skipped && h.damaged != nil {
			// Packets given up: the frames that follow lack what they refer to.
			h.damaged(now)
		}
	}
	ask = ss.askDue
	ss.askDue = false
	return ss.askFor, ask
}

// write publishes a frame. Called with mu held.
func (ss *session) write(f *relay.Frame) {
	if f.Track.Kind() == relay.Audio && ss.wantVideo && !ss.videoStart {
		// Audio alone would make destinations start without video: hold it back until the
		// first video keyframe, for a while.
		if ss.audioSince.IsZero() {
			ss.audioSince = time.Now()
		}
		if time.Since(ss.audioSince) < audioHoldLimit {
			return
		}
		ss.wantVideo = false
		ss.log.Warn("no video keyframe yet: publishing the audio alone")
	}
	if f.Track.Kind() == relay.Video {
		ss.videoStart = true
	}
	if err := ss.pub.WriteFrame(f); err != nil {
		ss.failed = true
		ss.stop("the relay refused a frame: " + err.Error())
	}
}

// setTrack declares t to the relay and returns the track frames must carry. Called with mu
// held.
func (ss *session) setTrack(t *relay.Track) *relay.Track {
	cur, err := ss.pub.SetTrack(t)
	if err != nil {
		ss.failed = true
		ss.stop("the relay refused a track: " + err.Error())
		return t
	}
	return cur
}

// askKeyframeNow asks for a keyframe because the video was damaged, at most once per
// damageAskInterval: packet sends the request once mu is released. Called with mu held.
func (ss *session) askKeyframeNow(ssrc uint32, now time.Time) {
	if now.Sub(ss.lastAsk) < damageAskInterval {
		return
	}
	ss.lastAsk = now
	ss.keyAsked++
	ss.askFor, ss.askDue = ssrc, true
}

// sendPLI asks the publisher for a keyframe of the track ssrc. Not called with mu held.
func (ss *session) sendPLI(ssrc uint32) {
	if err := ss.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil && ss.ctx.Err() == nil {
		ss.log.Debug("sending a keyframe request", "error", err)
	}
}

// counters returns what the network did to the session: the reorder buffers' counts
// (missing, filled in, late, given up) and the NACKs sent.
func (ss *session) counters() netstats.Counters {
	var c netstats.Counters
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, ro := range ss.reorders {
		c.LostPackets += ro.missing
		c.Retransmitted += ro.filled
		c.LatePackets += ro.late
		c.Dropped += ro.skipped
	}
	for _, ssrc := range ss.ssrcs {
		c.NACKs += ss.srv.nacks.count(ssrc)
	}
	c.KeyframeRequests = ss.keyAsked
	return c
}
