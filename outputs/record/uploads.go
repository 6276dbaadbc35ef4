package record

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// UploadsFile is the ledger of a recording's files that are in object storage (record.storage:
// s3): one line per confirmed upload, "<name> <size> <unix ms of the local file's mtime>",
// appended and fsynced after the store said yes and before the local copy is removed. A file
// listed there whose local copy is gone is in the bucket.
const UploadsFile = "uploads.txt"

// Upload is what the ledger says of one uploaded file.
type Upload struct {
	Size    int64
	ModTime time.Time
}

// Uploads is told of each file of a recording once it is complete and durable on the disk,
// so that it can be copied elsewhere (object storage), and of each recording once closed.
// Its methods must not block: they queue.
type Uploads interface {
	// FileClosed: dir/name (an init or media segment) is complete and will not change.
	FileClosed(dir, name string)
	// RecordingClosed: the recording in dir is closed: its playlist and recording.json are
	// final.
	RecordingClosed(dir string)
}

// ReadUploads reads the ledger of the recording in dir; no ledger is an empty one. A line
// torn by a crash (the last one, without its newline) is ignored: that upload is simply done
// again.
func ReadUploads(dir string) (map[string]Upload, error) {
	out := map[string]Upload{}
	b, err := os.ReadFile(filepath.Join(dir, UploadsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	lines := strings.Split(string(b), "\n")
	// The last element follows the last newline: empty, or a line torn by a crash.
	for _, l := range lines[:len(lines)-1] {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		size, err1 := strconv.ParseInt(f[1], 10, 64)
		ms, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[f[0]] = Upload{Size: size, ModTime: time.UnixMilli(ms).UTC()}
	}
	return out, nil
}

// MarkUploaded appends name to the ledger of dir and fsyncs it.
func MarkUploaded(dir, name string, u Upload) error {
	if strings.ContainsAny(name, " \n/") || name == "" {
		return fmt.Errorf("cannot record the upload of %q: not a plain file name", name)
	}
	f, err := os.OpenFile(filepath.Join(dir, UploadsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %d %d\n", name, u.Size, u.ModTime.UnixMilli())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// PlaylistPrefix returns the files the closed playlist of the recording in dir lists (init
// segments before the media segments they decode), and a closed playlist of its first
// segments covering at least upTo seconds (all of them when upTo <= 0) with the files that
// one needs: what to fetch back from object storage to make an MP4 or a thumbnail.
func PlaylistPrefix(dir string, upTo float64) (playlist []byte, files []string, err error) {
	segs, _, err := readPlaylist(dir)
	if err != nil {
		return nil, nil, err
	}
	var dur float64
	n := len(segs)
	for i, s := range segs {
		dur += s.Duration
		if upTo > 0 && dur >= upTo {
			n = i + 1
			break
		}
	}
	segs = segs[:n]
	seen := map[string]bool{}
	for _, s := range segs {
		if s.Init != "" && !seen[s.Init] {
			seen[s.Init] = true
			files = append(files, s.Init)
		}
		files = append(files, s.URI)
	}
	b, err := encodePlaylist(segs, true)
	return b, files, err
}
