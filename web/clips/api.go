package clips

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beffroi/beffroi/internal/httpjson"
	"github.com/beffroi/beffroi/web/store"
)

// Limits of what operators send.
const (
	maxCaption      = 150 // runes
	maxCaptionLines = 4
	maxLogoBytes    = 1 << 20
	maxLogoSide     = 2048
	minLogoSide     = 16
	defaultThumbs   = 12
	maxThumbs       = 40
)

// Mount adds the routes: the clips of a recording under /api/v1/recordings/{id}/clips, its
// timeline thumbnails, and the town's logo at /api/v1/clips/logo. operator guards them all
// (nil lets every request through).
func (s *Service) Mount(mux *http.ServeMux, operator func(http.Handler) http.Handler) {
	op := func(h http.HandlerFunc) http.Handler {
		if operator == nil {
			return h
		}
		return operator(h)
	}
	mux.Handle("GET /api/v1/recordings/{id}/clips", op(s.list))
	mux.Handle("POST /api/v1/recordings/{id}/clips", op(s.create))
	mux.Handle("GET /api/v1/recordings/{id}/clips/timeline", op(s.timeline))
	mux.Handle("GET /api/v1/recordings/{id}/clips/timeline/{thumb}", op(s.thumb))
	mux.Handle("GET /api/v1/recordings/{id}/clips/{clip}", op(s.get))
	mux.Handle("DELETE /api/v1/recordings/{id}/clips/{clip}", op(s.delete))
	mux.Handle("POST /api/v1/recordings/{id}/clips/{clip}/cancel", op(s.cancelRoute))
	mux.Handle("GET /api/v1/recordings/{id}/clips/{clip}/{file}", op(s.download))
	mux.Handle("GET /api/v1/clips/logo", op(s.getLogo))
	mux.Handle("PUT /api/v1/clips/logo", op(s.putLogo))
	mux.Handle("DELETE /api/v1/clips/logo", op(s.deleteLogo))
}

// clipJSON is a clip as the API shows it.
type clipJSON struct {
	ID        string    `json:"id"`
	Recording string    `json:"recording"`
	In        float64   `json:"in"`
	Out       float64   `json:"out"`
	Duration  float64   `json:"duration"`
	Shape     string    `json:"shape"`
	Caption   string    `json:"caption"`
	Logo      bool      `json:"logo"`
	State     string    `json:"state"`
	Progress  float64   `json:"progress"`
	Error     string    `json:"error,omitempty"`
	Size      int64     `json:"size,omitempty"`
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	Created   time.Time `json:"created"`
	URL       string    `json:"url,omitempty"` // the MP4, once done
}

func toJSON(c store.Clip) clipJSON {
	out := clipJSON{ID: c.ID, Recording: c.Recording, In: c.In, Out: c.Out, Duration: c.Out - c.In, Shape: c.Shape,
		Caption: c.Caption, Logo: c.Logo, State: c.State, Progress: c.Progress, Error: c.Error, Size: c.Size,
		Width: c.Width, Height: c.Height, Created: c.Created}
	if c.State == Done {
		out.URL = "/api/v1/recordings/" + url.PathEscape(c.Recording) + "/clips/" + c.ID + "/" + c.ID + ".mp4"
	}
	return out
}

func writeError(w http.ResponseWriter, code int, msg string) { httpjson.Error(w, code, msg) }

// recording finds the route's recording, answering 404 or 500 itself.
func (s *Service) recording(w http.ResponseWriter, r *http.Request) (store.Recording, bool) {
	id := r.PathValue("id")
	rec, err := s.Store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "recording not found: "+strconv.Quote(id))
		return rec, false
	}
	if err != nil {
		s.log().Error("clips: reading the catalogue", "recording", id, "error", err)
		writeError(w, http.StatusInternalServerError, "the recordings catalogue cannot be read; see the server log")
		return rec, false
	}
	return rec, true
}

var clipIDRE = regexp.MustCompile(`^clip-[0-9a-f]{12}$`)

// clip finds the route's clip of the route's recording.
func (s *Service) clip(w http.ResponseWriter, r *http.Request) (store.Clip, bool) {
	rec, id := r.PathValue("id"), r.PathValue("clip")
	if !clipIDRE.MatchString(id) {
		writeError(w, http.StatusNotFound, "clip not found: "+strconv.Quote(id))
		return store.Clip{}, false
	}
	c, err := s.Store.Clip(r.Context(), rec, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "clip not found: "+id+" of recording "+strconv.Quote(rec))
		return c, false
	}
	if err != nil {
		s.log().Error("clips: reading the catalogue", "clip", id, "error", err)
		writeError(w, http.StatusInternalServerError, "the clips catalogue cannot be read; see the server log")
		return c, false
	}
	return c, true
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.recording(w, r)
	if !ok {
		return
	}
	list, err := s.Store.Clips(r.Context(), rec.ID)
	if err != nil {
		s.log().Error("clips: listing", "recording", rec.ID, "error", err)
		writeError(w, http.StatusInternalServerError, "the clips catalogue cannot be read; see the server log")
		return
	}
	out := make([]clipJSON, 0, len(list))
	for _, c := range list {
		out = append(out, toJSON(c))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"clips": out, "logo": s.hasLogo(), "caption_font": s.font() != ""})
}

// request is what POST .../clips accepts.
type request struct {
	In      *float64 `json:"in"`
	Out     *float64 `json:"out"`
	Shape   string   `json:"shape"`
	Caption string   `json:"caption"`
	Logo    bool     `json:"logo"`
}

const requestExample = `{"in": 12.5, "out": 42, "shape": "9:16", "caption": "...", "logo": true}`

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.recording(w, r)
	if !ok {
		return
	}
	var q request
	if !httpjson.Read(w, r, &q) {
		return
	}
	bad := func(msg string) { writeError(w, http.StatusBadRequest, msg) }
	if q.In == nil || q.Out == nil {
		bad("in and out are required, in seconds from the recording's start (" + requestExample + ")")
		return
	}
	if q.Shape == "" {
		q.Shape = "9:16"
	}
	if _, ok := ShapeOf(q.Shape); !ok {
		bad(fmt.Sprintf("shape: %s is not one of 9:16, 1:1, 16:9", strconv.Quote(q.Shape)))
		return
	}
	caption, err := checkCaption(q.Caption)
	if err != nil {
		bad("caption: " + err.Error())
		return
	}
	if caption != "" && s.font() == "" {
		bad("caption: no font is installed for captions on this server (fonts-dejavu-core or fonts-liberation)")
		return
	}
	if q.Logo && !s.hasLogo() {
		bad("logo: no logo was uploaded (PUT /api/v1/clips/logo with a PNG)")
		return
	}
	tl, err := readTimeline(rec.Dir)
	if err != nil {
		bad("recording " + strconv.Quote(rec.ID) + " has no media to cut: " + cleanLine(err.Error(), rec.Dir))
		return
	}
	if err := validate(*q.In, *q.Out, tl.Duration); err != nil {
		bad(err.Error())
		return
	}
	c, err := s.Store.CreateClip(r.Context(), store.Clip{ID: newID(), Recording: rec.ID, In: *q.In, Out: *q.Out,
		Shape: q.Shape, Caption: caption, Logo: q.Logo, State: Queued})
	if err != nil {
		s.log().Error("clips: saving", "recording", rec.ID, "error", err)
		writeError(w, http.StatusInternalServerError, "the clip could not be saved; see the server log")
		return
	}
	if !s.enqueue(c.Recording, c.ID) {
		_ = s.Store.DeleteClip(r.Context(), c.Recording, c.ID)
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%d clips are waiting for their export already: try again once some are done", maxPending))
		return
	}
	s.log().Info("clip queued", "recording", rec.ID, "clip", c.ID, "in", *q.In, "out", *q.Out, "shape", q.Shape)
	w.Header().Set("Location", "/api/v1/recordings/"+url.PathEscape(rec.ID)+"/clips/"+c.ID)
	httpjson.Write(w, http.StatusAccepted, toJSON(c))
}

// checkCaption trims the caption and refuses control characters, too long a text or too
// many lines.
func checkCaption(s string) (string, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxCaption {
		return "", fmt.Errorf("%d characters, at most %d", n, maxCaption)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') }) {
		return "", errors.New("control characters are not allowed")
	}
	if n := strings.Count(s, "\n") + 1; n > maxCaptionLines {
		return "", fmt.Errorf("%d lines, at most %d", n, maxCaptionLines)
	}
	return s, nil
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.clip(w, r); ok {
		httpjson.Write(w, http.StatusOK, toJSON(c))
	}
}

// cancelRoute: POST .../clips/{clip}/cancel stops a waiting or running export.
func (s *Service) cancelRoute(w http.ResponseWriter, r *http.Request) {
	c, ok := s.clip(w, r)
	if !ok {
		return
	}
	if c.State != Queued && c.State != Exporting {
		writeError(w, http.StatusConflict, "clip "+c.ID+" is "+c.State+": only a waiting or running export can be cancelled")
		return
	}
	if err := s.Store.UpdateClip(r.Context(), c.ID, store.ClipUpdate{State: ptr(Cancelled)}); err != nil {
		writeError(w, http.StatusNotFound, "clip not found: "+c.ID)
		return
	}
	s.cancel(c.ID)
	s.log().Info("clip export cancelled by an operator", "recording", c.Recording, "clip", c.ID)
	c.State = Cancelled
	httpjson.Write(w, http.StatusOK, toJSON(c))
}

func (s *Service) delete(w http.ResponseWriter, r *http.Request) {
	c, ok := s.clip(w, r)
	if !ok {
		return
	}
	s.cancel(c.ID)
	if err := s.Store.DeleteClip(r.Context(), c.Recording, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log().Error("clips: deleting", "clip", c.ID, "error", err)
		writeError(w, http.StatusInternalServerError, "the clip could not be deleted; see the server log")
		return
	}
	s.forgetFile(c)
	s.log().Info("clip deleted", "recording", c.Recording, "clip", c.ID)
	w.WriteHeader(http.StatusNoContent)
}

// download: GET .../clips/{clip}/{clip}.mp4 (?download for an attachment).
func (s *Service) download(w http.ResponseWriter, r *http.Request) {
	c, ok := s.clip(w, r)
	if !ok {
		return
	}
	if r.PathValue("file") != c.ID+".mp4" {
		writeError(w, http.StatusNotFound, "a clip's file is "+c.ID+".mp4")
		return
	}
	if c.State != Done {
		writeError(w, http.StatusConflict, "clip "+c.ID+" is "+c.State+": its MP4 is there once it is done")
		return
	}
	f, err := os.Open(s.clipFile(c.Recording, c.ID))
	if err != nil {
		writeError(w, http.StatusNotFound, "the MP4 of clip "+c.ID+" is missing")
		return
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusNotFound, "the MP4 of clip "+c.ID+" is missing")
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	if r.URL.Query().Has("download") {
		name := strings.NewReplacer(":", "x").Replace(fmt.Sprintf("%s-%s-%s.mp4", c.Recording, c.Shape, strings.TrimPrefix(c.ID, "clip-")))
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	http.ServeContent(w, r, c.ID+".mp4", fi.ModTime(), f)
}

// timeline: GET .../clips/timeline?count=N: thumbnails spread over the recording, one per
// chosen segment (its first keyframe), for the editor's strip.
func (s *Service) timeline(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.recording(w, r)
	if !ok {
		return
	}
	n := defaultThumbs
	if v := r.URL.Query().Get("count"); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 1 || c > maxThumbs {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("count: %s is not a whole number from 1 to %d", strconv.Quote(v), maxThumbs))
			return
		}
		n = c
	}
	tl, err := readTimeline(rec.Dir)
	if err != nil {
		writeError(w, http.StatusBadRequest, "recording "+strconv.Quote(rec.ID)+" has no media yet: "+cleanLine(err.Error(), rec.Dir))
		return
	}
	type thumb struct {
		At  float64 `json:"at"`
		URL string  `json:"url"`
	}
	thumbs := []thumb{}
	prev := -1
	for i := range n {
		k := i * len(tl.Segments) / n
		if k == prev {
			continue
		}
		prev = k
		thumbs = append(thumbs, thumb{At: tl.Segments[k].Start,
			URL: "/api/v1/recordings/" + url.PathEscape(rec.ID) + "/clips/timeline/" + strconv.Itoa(k) + ".jpg"})
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"duration": tl.Duration, "max_clip": MaxDuration, "thumbs": thumbs})
}

// thumb: GET .../clips/timeline/{n}.jpg: segment n's first picture, made once and kept.
func (s *Service) thumb(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.recording(w, r)
	if !ok {
		return
	}
	v, _ := strings.CutSuffix(r.PathValue("thumb"), ".jpg")
	k, err := strconv.Atoi(v)
	tl, terr := readTimeline(rec.Dir)
	if err != nil || k < 0 || terr != nil || k >= len(tl.Segments) {
		writeError(w, http.StatusNotFound, "no such thumbnail: "+strconv.Quote(r.PathValue("thumb")))
		return
	}
	path := filepath.Join(s.recDir(rec.ID), "timeline", strconv.Itoa(k)+".jpg")
	if _, err := os.Stat(path); err != nil {
		if err := s.makeThumb(r.Context(), tl.Segments[k], path); err != nil {
			if r.Context().Err() == nil {
				s.log().Warn("clips: timeline thumbnail", "recording", rec.ID, "segment", k, "error", err)
			}
			writeError(w, http.StatusNotFound, "no thumbnail for this point of the recording")
			return
		}
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=86400") // segments never change
	http.ServeFile(w, r, path)
}

// makeThumb decodes a segment's first picture into a small JPEG, two at a time at most.
func (s *Service) makeThumb(ctx context.Context, seg segment, path string) error {
	s.mu.Lock()
	s.init()
	sem := s.thumbs
	s.mu.Unlock()
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := os.Stat(path); err == nil {
		return nil // made while this one waited
	}
	if strings.ContainsAny(seg.Init+seg.Path, "|") {
		return errors.New("a media file name holds '|'")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".tmp.jpg"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", "concat:"+seg.Init+"|"+seg.Path,
		"-frames:v", "1", "-vf", "scale=-2:144", "-q:v", "5", "-f", "image2", tmp).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ffmpeg: %w: %s", err, cleanLine(lastLine(string(out)), filepath.Dir(seg.Path)))
	}
	return os.Rename(tmp, path)
}

func (s *Service) logoPath() string { return filepath.Join(s.Dir, "logo.png") }

func (s *Service) hasLogo() bool {
	_, err := os.Stat(s.logoPath())
	return err == nil
}

func (s *Service) getLogo(w http.ResponseWriter, r *http.Request) {
	if !s.hasLogo() {
		writeError(w, http.StatusNotFound, "no logo was uploaded")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, no-cache")
	http.ServeFile(w, r, s.logoPath())
}

// putLogo: PUT /api/v1/clips/logo with a PNG body (transparency welcome): checked, then
// kept in the clips directory for every clip that asks for it.
func (s *Service) putLogo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLogoBytes))
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the logo is larger than %d KiB", maxLogoBytes>>10))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "the logo could not be read: "+err.Error())
		return
	}
	if err := checkLogo(b); err != nil {
		writeError(w, http.StatusBadRequest, "logo: "+err.Error())
		return
	}
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		s.log().Error("clips: logo directory", "error", err)
		writeError(w, http.StatusInternalServerError, "the logo could not be saved; see the server log")
		return
	}
	tmp := s.logoPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil || os.Rename(tmp, s.logoPath()) != nil {
		_ = os.Remove(tmp)
		s.log().Error("clips: saving the logo", "error", err)
		writeError(w, http.StatusInternalServerError, "the logo could not be saved; see the server log")
		return
	}
	s.log().Info("clips: logo uploaded", "size", len(b))
	w.WriteHeader(http.StatusNoContent)
}

// checkLogo accepts a PNG of a sensible size that decodes whole.
func checkLogo(b []byte) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return errors.New("not a PNG image (" + err.Error() + ")")
	}
	if cfg.Width < minLogoSide || cfg.Height < minLogoSide || cfg.Width > maxLogoSide || cfg.Height > maxLogoSide {
		return fmt.Errorf("%dx%d pixels: each side from %d to %d", cfg.Width, cfg.Height, minLogoSide, maxLogoSide)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		return errors.New("the PNG is damaged (" + err.Error() + ")")
	}
	return nil
}

func (s *Service) deleteLogo(w http.ResponseWriter, r *http.Request) {
	if err := os.Remove(s.logoPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		writeError(w, http.StatusInternalServerError, "the logo could not be deleted; see the server log")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
