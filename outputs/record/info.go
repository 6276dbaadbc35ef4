// Package record writes every live session of a stream to disk as a recording that survives
// a crash, a power cut or a full disk: fragmented MP4 segments and a VOD HLS playlist.
//
// On disk, under the recordings root (<data_dir>/recordings by default), one directory per
// recording, named by its ID:
//
//	<id>/recording.json   Info, replaced atomically at every change (state, duration, size)
//	<id>/index.m3u8       HLS playlist (EVENT while recording, VOD + ENDLIST when closed)
//	<id>/init-<n>.mp4     initialisation segments (a new one when codec parameters change)
//	<id>/seg-<n>.m4s      media segments, each fsynced when closed
//
// Files other packages add beside them (the replay MP4, the thumbnail) are theirs. With
// object storage (Options.Uploads, package objstore), uploads.txt lists the files already in
// the bucket, whose local copies may be gone (Recover counts them from it).
//
// Every file is first written under a temporary dot-name (".seg-3.m4s.tmp123"), fsynced, and
// only then given its name; segments and init segments are linked to their name, which fails
// rather than replace a file, and the playlist and recording.json are renamed over the old
// ones. The playlist only ever lists complete, fsynced segments, so a crash leaves a recording
// that plays up to its last segment; Recover closes such recordings at the next start.
//
// The Recorder follows a relay.Registry and records every live session of its streams; it is
// one relay reader per live stream, so a slow or full disk never slows the publisher.
package record

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// File names inside a recording's directory.
const (
	InfoFile     = "recording.json"
	PlaylistFile = "index.m3u8"
)

// State is where a recording is in its life.
type State string

// States of a recording.
const (
	// Recording: the live session is being written.
	Recording State = "recording"
	// Paused: the disk is full; live relaying goes on and the recording resumes, with a
	// discontinuity, when space returns.
	Paused State = "paused"
	// Finished: the live session ended and the recording was closed.
	Finished State = "finished"
	// Interrupted: Beffroi stopped without closing it (crash, power cut, kill -9); it was
	// closed at the next start and plays up to its last complete segment.
	Interrupted State = "interrupted"
)

// Info describes one recording. It is what recording.json holds and what the catalogue
// receives.
type Info struct {
	ID       string    `json:"id"`
	Stream   string    `json:"stream"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"` // zero while recording
	Duration float64   `json:"duration"`       // seconds of media in complete segments
	Size     int64     `json:"size"`           // bytes of init and media segments
	Segments int       `json:"segments"`
	State    State     `json:"state"`
	// Dir is the recording's directory; not stored (the directory moves with its files).
	Dir string `json:"-"`
}

// Catalog is told of every change of a recording: when it starts, after each segment, when
// it pauses, resumes and ends, and of the recordings found on disk at start-up. The
// embedded database implements it; it must not block for long.
type Catalog interface {
	Recorded(Info)
}

// ReadInfo reads the recording.json of the recording in dir.
func ReadInfo(dir string) (Info, error) {
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return Info{}, err
	}
	var in Info
	if err := json.Unmarshal(b, &in); err != nil {
		return Info{}, fmt.Errorf("%s: %w", filepath.Join(dir, InfoFile), err)
	}
	in.Dir = dir
	return in, nil
}

// WriteInfo replaces the recording.json of in.Dir atomically (write, fsync, rename).
func WriteInfo(in Info) error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(in.Dir, InfoFile), b)
}

// WriteFileAtomic writes data to a temporary file beside path, fsyncs it and renames it over
// path, so that a reader or a crash sees the old file or the new one, never half of one.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
