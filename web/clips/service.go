package clips

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/beffroi/beffroi/web/store"
)

// Clip states.
const (
	Queued    = "queued"
	Exporting = "exporting"
	Done      = "done"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// maxPending bounds the clips waiting for an export, all recordings together.
const maxPending = 16

// errCancelled is the cause of an export an operator cancelled.
var errCancelled = errors.New("cancelled by an operator")

// Service exports story clips from recordings in the background and serves them. Set its
// fields, Mount it, and Run it.
type Service struct {
	Store *store.Store
	// Dir holds the clips (<Dir>/<recording>/<clip>.mp4), the timeline thumbnails and the
	// logo; a recording's clips go with it (RecordingRemoved).
	Dir string
	// FFmpeg and FFprobe are the programs; default "ffmpeg" and "ffprobe".
	FFmpeg, FFprobe string
	// Workers is how many exports run at once; default 1 (a 1080x1920 encode takes about
	// a core: the live streams keep the rest).
	Workers int
	// Fonts are the caption font candidates, the first that exists is used; default
	// DejaVu Sans Bold and Liberation Sans Bold from Debian's packages.
	Fonts  []string
	Logger *slog.Logger
	// Fetch, when recordings go to object storage (record.storage: s3), brings back the file
	// name of recording id into dst: an export fetches the covering segments no longer on
	// the disk, and only those.
	Fetch func(ctx context.Context, id, name, dst string) error

	mu      sync.Mutex
	pending []queued                           // oldest first
	running map[string]context.CancelCauseFunc // by clip ID
	runRec  map[string]string                  // clip ID -> its recording, of the running ones
	wake    chan struct{}
	thumbs  chan struct{} // bounds the timeline thumbnails made at once
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Service) ffmpeg() string {
	if s.FFmpeg == "" {
		return "ffmpeg"
	}
	return s.FFmpeg
}

func (s *Service) ffprobe() string {
	if s.FFprobe == "" {
		return "ffprobe"
	}
	return s.FFprobe
}

// defaultFonts are where Debian's fonts-dejavu-core and fonts-liberation put a bold sans.
func defaultFonts() []string {
	return []string{
		"/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
		"/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
		"/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
	}
}

// font returns the caption font's path, or "" when none is installed.
func (s *Service) font() string {
	list := s.Fonts
	if len(list) == 0 {
		list = defaultFonts()
	}
	for _, f := range list {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			return f
		}
	}
	return ""
}

func (s *Service) init() {
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
		s.thumbs = make(chan struct{}, 2)
		s.running = map[string]context.CancelCauseFunc{}
		s.runRec = map[string]string{}
	}
}

// queued is a clip waiting for its export.
type queued struct{ rec, id string }

// enqueue adds a clip to the queue; false when the queue is full.
func (s *Service) enqueue(rec, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if len(s.pending) >= maxPending {
		return false
	}
	s.pending = append(s.pending, queued{rec, id})
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// Run exports the queued clips until ctx ends, Workers at a time. Clips that were queued
// or being exported when Beffroi stopped are exported again.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	left, err := s.Store.Clips(ctx, "", Queued, Exporting)
	if err != nil {
		return fmt.Errorf("clips: %w", err)
	}
	for _, c := range left {
		st, p := Queued, 0.0
		if err := s.Store.UpdateClip(ctx, c.ID, store.ClipUpdate{State: &st, Progress: &p}); err == nil {
			s.mu.Lock()
			s.pending = append(s.pending, queued{c.Recording, c.ID})
			s.mu.Unlock()
		}
	}
	if len(left) > 0 {
		s.log().Info("clips: exporting again the clips left by the last run", "clips", len(left))
	}
	n := max(s.Workers, 1)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { s.work(ctx) })
	}
	wg.Wait()
	return nil
}

func (s *Service) work(ctx context.Context) {
	for {
		s.mu.Lock()
		var q queued
		var jctx context.Context
		var cancel context.CancelCauseFunc
		if len(s.pending) > 0 {
			q, s.pending = s.pending[0], s.pending[1:]
			// Running from the moment it leaves the queue, so that a cancel meanwhile
			// finds it.
			jctx, cancel = context.WithCancelCause(ctx)
			s.running[q.id] = cancel
			s.runRec[q.id] = q.rec
		}
		more := len(s.pending) > 0
		s.mu.Unlock()
		if more {
			select {
			case s.wake <- struct{}{}: // another worker may take the next one
			default:
			}
		}
		if q.id == "" {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		s.export(ctx, jctx, q.rec, q.id)
		cancel(nil)
		s.mu.Lock()
		delete(s.running, q.id)
		delete(s.runRec, q.id)
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// newID returns a clip ID: 12 hex digits.
func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "clip-" + hex.EncodeToString(b)
}

func (s *Service) recDir(rec string) string { return filepath.Join(s.Dir, rec) }

func (s *Service) clipFile(rec, id string) string { return filepath.Join(s.recDir(rec), id+".mp4") }

func ptr[T any](v T) *T { return &v }

// export makes one clip's MP4 under jctx, which a cancel or the recording's deletion
// cancels (ctx: Beffroi's life).
func (s *Service) export(ctx, jctx context.Context, rec, id string) {
	c, err := s.Store.Clip(ctx, rec, id)
	if err != nil || c.State != Queued || jctx.Err() != nil {
		return // deleted or cancelled while it waited
	}
	start := time.Now()
	w, h, rss, err := s.make(jctx, c)
	switch {
	case ctx.Err() != nil:
		return // Beffroi stops: exported again at the next start
	case errors.Is(context.Cause(jctx), errCancelled):
		s.log().Info("clip export cancelled", "recording", c.Recording, "clip", id)
		return // the canceller set the state
	case err != nil:
		s.log().Warn("clip export failed", "recording", c.Recording, "clip", id, "error", err)
		if uerr := s.Store.UpdateClip(ctx, id, store.ClipUpdate{State: ptr(Failed), Error: ptr(err.Error())}); errors.Is(uerr, store.ErrNotFound) {
			s.forgetFile(c)
		}
		return
	}
	fi, err := os.Stat(s.clipFile(c.Recording, id))
	if err != nil {
		_ = s.Store.UpdateClip(ctx, id, store.ClipUpdate{State: ptr(Failed), Error: ptr("the MP4 vanished: " + err.Error())})
		return
	}
	err = s.Store.UpdateClip(ctx, id, store.ClipUpdate{State: ptr(Done), Progress: ptr(1.0), File: ptr(id + ".mp4"),
		Size: ptr(fi.Size()), Width: &w, Height: &h})
	if errors.Is(err, store.ErrNotFound) {
		s.forgetFile(c) // its recording was deleted meanwhile
		return
	}
	s.log().Info("clip exported", "recording", c.Recording, "clip", id, "duration", fmt.Sprintf("%.1fs", c.Out-c.In),
		"shape", c.Shape, "size", fi.Size(), "took", time.Since(start).Round(time.Millisecond), "ffmpeg_max_rss", rss)
}

// forgetFile removes a clip's MP4 whose row is gone, and its directory once empty.
func (s *Service) forgetFile(c store.Clip) {
	_ = os.Remove(s.clipFile(c.Recording, c.ID))
	_ = os.Remove(s.recDir(c.Recording))
}

// make exports c and returns the MP4's size in pixels and ffmpeg's peak memory.
func (s *Service) make(ctx context.Context, c store.Clip) (int, int, int64, error) {
	rec, err := s.Store.Get(ctx, c.Recording)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("recording %s: %w", c.Recording, err)
	}
	tl, err := readTimeline(rec.Dir)
	if err != nil {
		return 0, 0, 0, errors.New(cleanLine(err.Error(), rec.Dir))
	}
	if err := validate(c.In, c.Out, tl.Duration); err != nil {
		return 0, 0, 0, err
	}
	dir := s.recDir(c.Recording)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, 0, 0, err
	}
	tmp, err := os.MkdirTemp(dir, ".export-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	parts, err := s.onDisk(ctx, rec.ID, tl.cover(c.In, c.Out), tmp)
	if err != nil {
		return 0, 0, 0, err
	}
	probed := map[string]media{}
	ms := make([]media, 0, len(parts))
	for _, p := range parts {
		m, ok := probed[p.Init]
		if !ok {
			if m, err = probe(ctx, s.ffprobe(), p.Init); err != nil {
				return 0, 0, 0, err
			}
			probed[p.Init] = m
		}
		ms = append(ms, m)
	}
	shape, ok := ShapeOf(c.Shape)
	if !ok {
		return 0, 0, 0, fmt.Errorf("unknown shape %q", c.Shape)
	}
	j := job{Parts: parts, Shape: shape, Caption: c.Caption, Font: s.font(), Tmp: tmp, Out: filepath.Join(tmp, "clip.mp4")}
	if j.Caption != "" && j.Font == "" {
		return 0, 0, 0, errors.New("no font for the caption: install fonts-dejavu-core or fonts-liberation")
	}
	if c.Logo {
		j.Logo = s.logoPath()
		if _, err := os.Stat(j.Logo); err != nil {
			return 0, 0, 0, errors.New("the logo was removed: upload it again or export without it")
		}
	}
	args, w, h, err := j.args(ms)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := s.Store.UpdateClip(ctx, c.ID, store.ClipUpdate{State: ptr(Exporting), Progress: ptr(0.0)}); err != nil {
		return 0, 0, 0, err
	}
	var last time.Time
	report := func(p float64) {
		// The database hears of it twice a second at most.
		if time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		_ = s.Store.UpdateClip(ctx, c.ID, store.ClipUpdate{Progress: &p})
	}
	rss, err := run(ctx, s.ffmpeg(), args, c.Out-c.In, report, rec.Dir, tmp, s.Dir)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := os.Rename(j.Out, s.clipFile(c.Recording, c.ID)); err != nil {
		return 0, 0, 0, err
	}
	return w, h, rss, nil
}

// onDisk returns parts with every file on the disk: those of the recording's directory that
// were uploaded to object storage and removed are fetched into tmp (nothing else is).
func (s *Service) onDisk(ctx context.Context, id string, parts []part, tmp string) ([]part, error) {
	local := func(path string) (string, error) {
		if _, err := os.Stat(path); err == nil || s.Fetch == nil {
			return path, nil // a missing file without object storage: ffmpeg says so
		}
		dst := filepath.Join(tmp, filepath.Base(path))
		if _, err := os.Stat(dst); err == nil {
			return dst, nil // an init segment shared by parts
		}
		if err := s.Fetch(ctx, id, filepath.Base(path), dst); err != nil {
			return "", fmt.Errorf("fetching %s back from object storage: %w", filepath.Base(path), err)
		}
		return dst, nil
	}
	out := make([]part, len(parts))
	for i, p := range parts {
		var err error
		out[i] = part{From: p.From, To: p.To, Segments: make([]string, len(p.Segments))}
		if out[i].Init, err = local(p.Init); err != nil {
			return nil, err
		}
		for j, seg := range p.Segments {
			if out[i].Segments[j], err = local(seg); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// cancel stops a clip's export (running or waiting) and reports whether it was one.
func (s *Service) cancel(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for i, p := range s.pending {
		if p.id == id {
			s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
			found = true
			break
		}
	}
	if c, ok := s.running[id]; ok {
		c(errCancelled)
		found = true
	}
	return found
}

// RecordingRemoved stops the exports of a deleted recording's clips and deletes their
// files (the rows went with the recording's). The recordings' deletion and retention call
// it.
func (s *Service) RecordingRemoved(id string) {
	if s == nil || id == "" || filepath.Base(id) != id || id == ".." || id == "." {
		return
	}
	s.mu.Lock()
	s.pending = slices.DeleteFunc(s.pending, func(q queued) bool { return q.rec == id })
	for cid, rec := range s.runRec {
		if rec == id {
			s.running[cid](errCancelled)
		}
	}
	s.mu.Unlock()
	if err := os.RemoveAll(s.recDir(id)); err != nil {
		s.log().Warn("clips: cannot delete a deleted recording's clips", "recording", id, "error", err)
	}
}
