package whip

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// sdpFragType is the media type of trickle ICE and ICE restart requests (RFC 8840).
const sdpFragType = "application/trickle-ice-sdpfrag"

// maxFragSize bounds a PATCH body.
const maxFragSize = 16 << 10

// sdpFrag is what a PATCH body says (RFC 8840): the ICE credentials it is for, and candidates
// by media section.
type sdpFrag struct {
	ufrag, pwd string
	cands      []webrtc.ICECandidateInit
	end        bool // a=end-of-candidates
}

// parseFrag reads an SDP fragment. Lines it does not need are ignored; a candidate line
// before any media section belongs to the first (bundle: one transport).
func parseFrag(b []byte) (sdpFrag, error) {
	var f sdpFrag
	mid := ""
	var idx uint16
	sections := -1
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
		case strings.HasPrefix(line, "m="):
			sections++
			idx = uint16(max(sections, 0))
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=candidate:"):
			c := webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}
			if mid != "" {
				m := mid
				c.SDPMid = &m
			} else {
				i := idx
				c.SDPMLineIndex = &i
			}
			f.cands = append(f.cands, c)
		case line == "a=end-of-candidates":
			f.end = true
		case len(line) < 2 || line[1] != '=':
			return f, fmt.Errorf("not an SDP line: %.40q", line)
		}
	}
	if (f.ufrag == "") != (f.pwd == "") {
		return f, errors.New("a=ice-ufrag and a=ice-pwd go together")
	}
	return f, nil
}

// patch serves PATCH /whip/{stream}/{session} (RFC 9725 4.3): trickled candidates (204) and
// ICE restarts (200 with the new credentials and candidates). The session URL, unguessable,
// is the credential, as for DELETE. The ICE session is named by an entity tag, given with the
// answer and after each restart: If-Match must name the current one (or be "*").
func (s *Server) patch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss := s.byID[r.PathValue("session")]
	s.mu.Unlock()
	if ss == nil || ss.stream.Name() != r.PathValue("stream") {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != sdpFragType {
		w.Header().Set("Accept-Patch", sdpFragType)
		http.Error(w, "PATCH takes "+sdpFragType, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFragSize+1))
	if err != nil || len(body) > maxFragSize {
		http.Error(w, "SDP fragment unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	frag, err := parseFrag(body)
	if err != nil {
		http.Error(w, "invalid SDP fragment: "+err.Error(), http.StatusBadRequest)
		return
	}
	ss.patchMu.Lock()
	defer ss.patchMu.Unlock()
	if ss.ctx.Err() != nil {
		http.Error(w, "the session is over", http.StatusNotFound)
		return
	}
	match := r.Header.Get("If-Match")
	if match != "" && match != "*" && match != ss.etag {
		http.Error(w, "If-Match names another ICE session (restarted since)", http.StatusPreconditionFailed)
		return
	}
	restart := frag.ufrag != "" && frag.ufrag != ss.remoteUfrag
	if !restart {
		for _, c := range frag.cands {
			if err := ss.pc.AddICECandidate(c); err != nil {
				http.Error(w, "candidate refused: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if match != "*" {
		// RFC 9725 4.3.2: a restart must say If-Match: "*".
		http.Error(w, `an ICE restart needs If-Match: "*"`, http.StatusPreconditionRequired)
		return
	}
	out, err := ss.restartICE(frag)
	if err != nil {
		ss.log.Warn("ICE restart failed", "error", err)
		http.Error(w, "ICE restart failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	ss.log.Info("ICE restarted at the publisher's request")
	w.Header().Set("Content-Type", sdpFragType)
	w.Header().Set("ETag", ss.etag)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, out)
}

// restartICE applies the publisher's new ICE credentials (as a new offer: pion restarts its
// agent when they change) and returns the answer's new credentials and candidates as an
// SDP fragment. Called with patchMu held.
func (ss *session) restartICE(frag sdpFrag) (string, error) {
	cur := ss.pc.RemoteDescription()
	if cur == nil {
		return "", errors.New("no offer yet")
	}
	var b strings.Builder
	for line := range strings.Lines(cur.SDP) {
		l := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + frag.ufrag + "\r\n")
		case strings.HasPrefix(l, "a=ice-pwd:"):
			b.WriteString("a=ice-pwd:" + frag.pwd + "\r\n")
		case strings.HasPrefix(l, "a=candidate:"), l == "a=end-of-candidates":
		default:
			b.WriteString(l + "\r\n")
		}
	}
	if err := ss.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: b.String()}); err != nil {
		return "", err
	}
	answer, err := ss.pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(ss.pc)
	if err := ss.pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return "", errors.New("ICE gathering did not complete")
	}
	for _, c := range frag.cands {
		if err := ss.pc.AddICECandidate(c); err != nil {
			return "", fmt.Errorf("candidate refused: %w", err)
		}
	}
	ss.remoteUfrag = frag.ufrag
	return ss.answerFrag(ss.pc.LocalDescription().SDP), nil
}

// answerFrag makes the SDP fragment of an answer's ICE part (credentials, candidates) and
// records its entity tag.
func (ss *session) answerFrag(sdp string) string {
	var ufrag, pwd, mid, mline string
	var cands []string
	for line := range strings.Lines(sdp) {
		l := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:") && ufrag == "":
			ufrag = l
		case strings.HasPrefix(l, "a=ice-pwd:") && pwd == "":
			pwd = l
		case strings.HasPrefix(l, "m=") && mline == "":
			mline = l
		case strings.HasPrefix(l, "a=mid:") && mid == "":
			mid = l
		case strings.HasPrefix(l, "a=candidate:") && mid != "" && len(cands) < 64:
			if !slices.Contains(cands, l) {
				cands = append(cands, l)
			}
		}
	}
	ss.etag = `"` + strings.TrimPrefix(ufrag, "a=ice-ufrag:") + `"`
	var b strings.Builder
	b.WriteString(ufrag + "\r\n" + pwd + "\r\n" + mline + "\r\n" + mid + "\r\n")
	for _, c := range cands {
		b.WriteString(c + "\r\n")
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}

// iceUfrag returns the first a=ice-ufrag of an SDP.
func iceUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if u, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "a=ice-ufrag:"); ok {
			return u
		}
	}
	return ""
}
