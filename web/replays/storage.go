package replays

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/outputs/record/objstore"
	"github.com/beffroi/beffroi/web/store"
)

// Objects is the object store recordings are uploaded to (record.storage: s3), and its
// upload queue; objstore.Bucket is it.
type Objects interface {
	Open(ctx context.Context, id, name string) (*objstore.Object, error)
	Fetch(ctx context.Context, id, name, dst string) error
	Exists(ctx context.Context, id, name string) (bool, error)
	Presign(ctx context.Context, id, name string, expiry time.Duration) (string, error)
	RemoveRecording(ctx context.Context, id string) error
	// Add queues a file made beside a closed recording (the MP4, the thumbnail).
	Add(dir, name string)
	Forget(id string)
	State(id string) (objstore.State, bool)
}

var _ Objects = objstore.Bucket{}

// presignFor is how long a presigned URL of a replay file stays valid.
const presignFor = time.Hour

// storageJSON is a recording's upload state in the operator API (record.storage: s3).
type storageJSON struct {
	// State: "uploaded", "pending" (Pending files wait on the disk) or "error" (the last
	// attempt failed; the files wait and are retried).
	State   string `json:"state"`
	Pending int    `json:"pending"`
	Error   string `json:"error,omitempty"`
}

// storageOf is the upload state of a recording, nil without object storage.
func (s *Service) storageOf(id string) *storageJSON {
	if s.Objects == nil {
		return nil
	}
	st, ok := s.Objects.State(id)
	if !ok {
		return &storageJSON{State: "pending"}
	}
	out := &storageJSON{State: "pending", Pending: st.Pending, Error: st.Error}
	switch {
	case st.Uploaded:
		out.State = "uploaded"
	case st.Error != "":
		out.State = "error"
	}
	return out
}

// serveStored serves a file of a recording from the disk, or from object storage once it
// is only there: streamed through (ranges work), or with Presign a redirect to a presigned
// URL.
func (s *Service) serveStored(w http.ResponseWriter, r *http.Request, rec store.Recording, name string) {
	path := filepath.Join(rec.Dir, name)
	if s.Objects == nil {
		serveFile(w, r, path, name)
		return
	}
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		if fi, err := f.Stat(); err == nil && !fi.IsDir() {
			http.ServeContent(w, r, name, fi.ModTime(), f)
			return
		}
	}
	if s.Presign {
		u, err := s.Objects.Presign(r.Context(), rec.ID, name, presignFor)
		if err == nil {
			// The redirect lasts less than the URL it points to.
			w.Header().Set("Cache-Control", "private, max-age=600")
			http.Redirect(w, r, u, http.StatusFound)
			return
		}
		s.log().Warn("replays: cannot presign a file in object storage; streaming it", "recording", rec.ID, "file", name, "error", err)
	}
	o, err := s.Objects.Open(r.Context(), rec.ID, name)
	if err != nil {
		w.Header().Del("Cache-Control")
		if errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusNotFound, "file not found in the recording: "+name)
			return
		}
		if r.Context().Err() == nil {
			s.log().Error("replays: cannot read a file from object storage", "recording", rec.ID, "file", name, "error", err)
		}
		writeError(w, http.StatusBadGateway, "the object storage holding this recording cannot be reached; try again later")
		return
	}
	defer o.Close()
	if ct := objstore.ContentType(name); w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", ct)
	}
	http.ServeContent(w, r, name, o.ModTime, o)
}

// stored reports whether a file of the recording is on the disk or in object storage.
func (s *Service) stored(ctx context.Context, rec store.Recording, name string) bool {
	if _, err := os.Stat(filepath.Join(rec.Dir, name)); err == nil {
		return true
	}
	if s.Objects == nil {
		return false
	}
	ok, err := s.Objects.Exists(ctx, rec.ID, name)
	return ok && err == nil
}

// local returns a directory holding a closed playlist of the recording (its first upTo
// seconds; all with upTo <= 0) and every file it lists: the recording's own directory when
// they are all on the disk, else a temporary directory where those only in object storage
// are fetched (remove it with done).
func (s *Service) local(ctx context.Context, rec store.Recording, upTo float64) (dir string, done func(), err error) {
	pl, files, err := record.PlaylistPrefix(rec.Dir, upTo)
	if err != nil {
		return "", nil, err
	}
	missing := false
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(rec.Dir, f)); err != nil {
			missing = true
			break
		}
	}
	if !missing || s.Objects == nil {
		return rec.Dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp(rec.Dir, ".fetch.tmp")
	if err != nil {
		return "", nil, err
	}
	done = func() { _ = os.RemoveAll(tmp) }
	if err := os.WriteFile(filepath.Join(tmp, record.PlaylistFile), pl, 0o640); err != nil {
		done()
		return "", nil, err
	}
	for _, f := range files {
		src, dst := filepath.Join(rec.Dir, f), filepath.Join(tmp, f)
		if os.Link(src, dst) == nil {
			continue
		}
		if err := s.Objects.Fetch(ctx, rec.ID, f, dst); err != nil {
			done()
			return "", nil, fmt.Errorf("fetching %s back from object storage: %w", f, err)
		}
	}
	return tmp, done, nil
}

// removeObjects deletes a recording's objects before its row and directory: a store that
// cannot be reached leaves the recording whole, deleted again by the next sweep.
func (s *Service) removeObjects(ctx context.Context, id string) (store.Recording, error) {
	rec, err := s.Store.Get(ctx, id)
	if err != nil || s.Objects == nil {
		return rec, err
	}
	if rec.InProgress() {
		return rec, store.ErrInProgress
	}
	if err := s.Objects.RemoveRecording(ctx, id); err != nil {
		return rec, fmt.Errorf("object storage: %w", err)
	}
	s.Objects.Forget(id)
	return rec, nil
}
