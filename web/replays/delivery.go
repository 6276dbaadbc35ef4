package replays

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/outputs/record/mp4"
	"github.com/beffroi/beffroi/web/store"
)

// File names of what this package adds to a recording's directory.
const (
	MP4File   = "replay.mp4"
	ThumbFile = "thumb.jpg"
)

// fileRE is the files of a recording served over HTTP; nothing else in its directory is.
var fileRE = regexp.MustCompile(`^(index\.m3u8|init-[0-9]{1,9}\.mp4|seg-[0-9]{1,12}\.m4s|thumb\.jpg)$`)

// published serves a recording's file to everyone when it is published, and only to
// operators before (404 to anyone else).
func (s *Service) published(w http.ResponseWriter, r *http.Request, id string, serve func(http.ResponseWriter, *http.Request, store.Recording)) {
	rec, ok := s.lookup(w, r, id)
	if !ok {
		return
	}
	if rec.Published {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		serve(w, r, rec)
		return
	}
	s.asOperator(w, r, id, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, no-store")
		serve(w, r, rec)
	})
}

// file: GET /recordings/{id}/{file}: the HLS playlist, init and media segments, thumbnail.
func (s *Service) file(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	s.published(w, r, r.PathValue("id"), func(w http.ResponseWriter, r *http.Request, rec store.Recording) {
		if !fileRE.MatchString(name) {
			writeError(w, http.StatusNotFound, "no such file in a recording: "+quote(name)+" (index.m3u8, init-<n>.mp4, seg-<n>.m4s, thumb.jpg)")
			return
		}
		if name == ThumbFile {
			s.thumbnail(w, r, rec)
			return
		}
		cache := "public, max-age=86400" // segments never change once written
		switch {
		case name == record.PlaylistFile:
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			cache = "public, max-age=60"
			if rec.InProgress() {
				cache = "no-cache" // EVENT playlist: it grows
			}
		case strings.HasSuffix(name, ".m4s"):
			w.Header().Set("Content-Type", "video/iso.segment")
		default:
			w.Header().Set("Content-Type", "video/mp4")
		}
		if w.Header().Get("Cache-Control") == "" {
			w.Header().Set("Cache-Control", cache)
		}
		s.serveStored(w, r, rec, name)
	})
}

func serveFile(w http.ResponseWriter, r *http.Request, path, name string) {
	f, err := os.Open(path)
	if err != nil {
		w.Header().Del("Cache-Control")
		writeError(w, http.StatusNotFound, "file not found in the recording: "+name)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		writeError(w, http.StatusNotFound, "file not found in the recording: "+name)
		return
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// mp4: GET /recordings/{id}.mp4: the progressive MP4, made on the first request and kept.
func (s *Service) mp4(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	id, ok := strings.CutSuffix(name, ".mp4")
	if !ok {
		writeError(w, http.StatusNotFound, "no such route: /recordings/"+name+" (a recording is /recordings/{id}.mp4 or /recordings/{id}/index.m3u8)")
		return
	}
	s.published(w, r, id, func(w http.ResponseWriter, r *http.Request, rec store.Recording) {
		if rec.InProgress() {
			w.Header().Del("Cache-Control")
			writeError(w, http.StatusConflict, "recording "+quote(id)+" is still being written: its MP4 is made once it ends (its HLS playlist plays meanwhile)")
			return
		}
		path := filepath.Join(rec.Dir, MP4File)
		err := s.once(r.Context(), path, func(ctx context.Context) error {
			if fresh(path, filepath.Join(rec.Dir, record.PlaylistFile)) {
				return nil
			}
			if _, err := os.Stat(path); err != nil && s.stored(ctx, rec, MP4File) {
				return nil // made before, uploaded and removed from the disk
			}
			start := time.Now()
			src, done, err := s.local(ctx, rec, 0)
			if err != nil {
				return err
			}
			defer done()
			sum, err := writeAtomic(path, func(f *os.File) (mp4.Summary, error) { return mp4.Write(ctx, src, f) })
			if err != nil {
				return err
			}
			if s.Objects != nil {
				s.Objects.Add(rec.Dir, MP4File)
			}
			s.log().Info("replay MP4 made", "recording", rec.ID, "duration", fmt.Sprintf("%.1fs", sum.Duration),
				"size", sum.Size, "parts", sum.Parts, "took", time.Since(start).Round(time.Millisecond))
			return nil
		})
		if err != nil {
			if r.Context().Err() != nil {
				return // the client left
			}
			s.log().Error("replay MP4: cannot make it", "recording", rec.ID, "error", err)
			w.Header().Del("Cache-Control")
			writeError(w, http.StatusInternalServerError, "the MP4 of recording "+quote(id)+" could not be made; see the server log")
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		if w.Header().Get("Cache-Control") == "" {
			w.Header().Set("Cache-Control", "public, max-age=3600")
		}
		if r.URL.Query().Has("download") {
			w.Header().Set("Content-Disposition", `attachment; filename="`+rec.ID+`.mp4"`)
		}
		if s.Objects != nil {
			s.serveStored(w, r, rec, MP4File)
			return
		}
		serveFile(w, r, path, id+".mp4")
	})
}

// fresh reports whether the file at path exists and is newer than the playlist it was made
// from.
func fresh(path, playlist string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	pi, err := os.Stat(playlist)
	return err == nil && !fi.ModTime().Before(pi.ModTime())
}

// writeAtomic writes a file beside path and renames it over path once complete, so a
// reader never sees half a file.
func writeAtomic[T any](path string, write func(*os.File) (T, error)) (T, error) {
	var zero T
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return zero, err
	}
	v, err := write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return zero, err
	}
	return v, nil
}

// build is one file being made; concurrent requests for it wait for the same build.
type build struct {
	done chan struct{}
	err  error
}

// once runs make for path unless a build of path is already running, in which case it
// waits for that one. A waiter that gives up (ctx) leaves the build running for the others.
func (s *Service) once(ctx context.Context, path string, mk func(context.Context) error) error {
	s.mu.Lock()
	if s.builds == nil {
		s.builds = map[string]*build{}
	}
	b := s.builds[path]
	if b == nil {
		b = &build{done: make(chan struct{})}
		s.builds[path] = b
		// The build outlives the request that started it (others may wait for it), not
		// the service: Run cancels it and waits for it when it returns.
		base := s.base
		if base == nil {
			base = context.Background()
		}
		s.running.Add(1)
		go func() {
			defer s.running.Done()
			b.err = mk(base)
			s.mu.Lock()
			delete(s.builds, path)
			s.mu.Unlock()
			close(b.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// thumbnail serves thumb.jpg, made with ffmpeg from a keyframe the first time it is asked.
func (s *Service) thumbnail(w http.ResponseWriter, r *http.Request, rec store.Recording) {
	if err := s.makeThumbnail(r.Context(), rec); err != nil {
		if r.Context().Err() == nil && !errors.Is(err, errNoThumbnail) {
			s.log().Warn("replay thumbnail: cannot make it", "recording", rec.ID, "error", err)
		}
		w.Header().Del("Cache-Control")
		writeError(w, http.StatusNotFound, "recording "+quote(rec.ID)+" has no thumbnail yet")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "public, max-age=3600")
	}
	s.serveStored(w, r, rec, ThumbFile)
}

// errNoThumbnail: ffmpeg could not make this finished recording's thumbnail before (an
// audio-only recording); it is not tried again until Beffroi restarts.
var errNoThumbnail = errors.New("no thumbnail can be made (ffmpeg failed before)")

func (s *Service) makeThumbnail(ctx context.Context, rec store.Recording) error {
	path := filepath.Join(rec.Dir, ThumbFile)
	s.mu.Lock()
	failed := s.noThumb[rec.ID]
	s.mu.Unlock()
	if failed {
		return errNoThumbnail
	}
	err := s.once(ctx, path, func(ctx context.Context) error {
		if s.stored(ctx, rec, ThumbFile) {
			return nil
		}
		// A page of 50 replays asks for 50 thumbnails at once: make two at a time.
		s.mu.Lock()
		if s.ffmpegs == nil {
			s.ffmpegs = make(chan struct{}, 2)
		}
		sem := s.ffmpegs
		s.mu.Unlock()
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return ctx.Err()
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		// A few seconds in, past a fade-in; keyframes only, so little is decoded. The seek
		// is on the output side: ffmpeg's HLS demuxer cannot seek in fMP4 segments.
		at := min(5, rec.Duration/3)
		// Segments only in object storage: the first seconds are fetched back for ffmpeg.
		src, done, err := s.local(ctx, rec, at+2)
		if err != nil {
			return err
		}
		defer done()
		tmp := filepath.Join(rec.Dir, ".thumb.tmp.jpg")
		ffmpeg := s.FFmpeg
		if ffmpeg == "" {
			ffmpeg = "ffmpeg"
		}
		cmd := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-v", "error", "-y",
			"-skip_frame", "nokey", "-i", filepath.Join(src, record.PlaylistFile), "-ss", fmt.Sprintf("%.2f", at),
			"-frames:v", "1", "-vf", "scale=640:-2", "-q:v", "4", "-f", "image2", tmp)
		out, err := cmd.CombinedOutput()
		if err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("ffmpeg: %w: %s", err, strings.TrimSpace(string(out)))
		}
		if fi, err := os.Stat(tmp); err != nil || fi.Size() == 0 {
			_ = os.Remove(tmp)
			return fmt.Errorf("ffmpeg made no image: %s", strings.TrimSpace(string(out)))
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
		if s.Objects != nil && !rec.InProgress() {
			s.Objects.Add(rec.Dir, ThumbFile)
		}
		return s.Store.SetThumbnail(ctx, rec.ID, true)
	})
	if err != nil && ctx.Err() == nil && !rec.InProgress() {
		s.mu.Lock()
		if s.noThumb == nil {
			s.noThumb = map[string]bool{}
		}
		s.noThumb[rec.ID] = true
		s.mu.Unlock()
	}
	return err
}
