package record

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Recover finds the recordings under root, closes those a crash, a power cut or a kill left
// open (state recording or paused), and returns every recording found, oldest first, so that
// the catalogue can be (re)built. Call it at start-up, before recording anything.
//
// Closing a recording: the playlist, which only ever lists complete, fsynced segments, gets
// EXT-X-ENDLIST and becomes VOD; duration, size and segment count are recomputed from it;
// Ended is the modification time of its last segment; the state becomes interrupted.
// Temporary files left by an interrupted write are removed. A directory that is not a
// recording (no readable recording.json) is left alone and logged.
func Recover(root string, log *slog.Logger) ([]Info, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	var out []Info
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		in, err := ReadInfo(dir)
		if err != nil {
			log.Warn("recordings: not a recording, left alone", "dir", dir, "error", err.Error())
			continue
		}
		if in.State == Recording || in.State == Paused {
			closed, err := closeInterrupted(in)
			if err != nil {
				log.Error("recordings: cannot close an interrupted recording", "recording", in.ID, "error", err.Error())
			} else {
				in = closed
				log.Info("recordings: closed an interrupted recording", "recording", in.ID,
					"duration", time.Duration(in.Duration*float64(time.Second)).Round(time.Millisecond).String(),
					"segments", in.Segments)
			}
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// closeInterrupted closes a recording left open.
func closeInterrupted(in Info) (Info, error) {
	entries, err := os.ReadDir(in.Dir)
	if err != nil {
		return in, err
	}
	for _, e := range entries {
		if isTemp(e.Name()) {
			_ = os.Remove(filepath.Join(in.Dir, e.Name()))
		}
	}
	segs, _, err := readPlaylist(in.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return in, err
	}
	// Segments already in object storage are no longer on the disk: the ledger knows them.
	uploaded, err := ReadUploads(in.Dir)
	if err != nil {
		return in, err
	}
	stat := func(name string) (Upload, error) {
		fi, err := os.Stat(filepath.Join(in.Dir, name))
		if err == nil {
			return Upload{Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
		}
		if u, ok := uploaded[name]; ok {
			return u, nil
		}
		return Upload{}, err
	}
	in.Duration, in.Size, in.Segments = 0, 0, 0
	in.Ended = in.Started
	inits := map[string]bool{}
	for _, s := range segs {
		fi, err := stat(s.URI)
		if err != nil {
			return in, fmt.Errorf("segment %s listed but unreadable: %w", s.URI, err)
		}
		in.Duration += s.Duration
		in.Size += fi.Size
		in.Segments++
		in.Ended = fi.ModTime
		if s.Init != "" && !inits[s.Init] {
			inits[s.Init] = true
			if fi, err := stat(s.Init); err == nil {
				in.Size += fi.Size
			}
		}
	}
	b, err := encodePlaylist(segs, true)
	if err != nil {
		return in, err
	}
	if err := WriteFileAtomic(filepath.Join(in.Dir, PlaylistFile), b); err != nil {
		return in, err
	}
	in.State = Interrupted
	return in, WriteInfo(in)
}
