package objstore

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
)

// Defaults of Options.
const (
	DefaultConcurrency = 4
	DefaultRetryMin    = time.Second
	DefaultRetryMax    = time.Minute
	// DefaultUploadTimeout bounds one upload: a store that accepts the connection and then
	// stalls is retried like one that refuses it.
	DefaultUploadTimeout = 2 * time.Minute
)

// Options configures an Uploader.
type Options struct {
	// Root is the recordings directory (record.dir).
	Root string
	// KeepLocal keeps the local copies of the uploaded media files (record.s3.keep_local).
	KeepLocal bool
	// Concurrency is how many uploads run at once, every recording together; default 4.
	Concurrency int
	// RetryMin and RetryMax bound the back-off between two attempts of a failed upload: it
	// starts at RetryMin and doubles up to RetryMax. Defaults 1 s and 1 min.
	RetryMin, RetryMax time.Duration
	// UploadTimeout bounds one upload; default 2 min.
	UploadTimeout time.Duration
	Logger        *slog.Logger
}

// files is the store side the uploader needs; *Store is it (tests may fake it).
type files interface {
	EnsureBucket(ctx context.Context) error
	PutFile(ctx context.Context, id, name, path string) error
	RemoveRecording(ctx context.Context, id string) error
}

var _ files = (*Store)(nil)

// State is a recording's upload state, as the API shows it.
type State struct {
	// Uploaded: every file of the closed recording is in the bucket.
	Uploaded bool `json:"uploaded"`
	// Pending counts the files waiting to be uploaded.
	Pending int `json:"pending"`
	// Error is the last failed attempt's error (without credentials), until an upload of the
	// recording works again.
	Error string `json:"error,omitempty"`
}

// Uploader copies recordings to the store as their files close. It implements
// record.Uploads. Run it for as long as recordings are made.
type Uploader struct {
	store files
	opts  Options
	log   *slog.Logger

	mu     sync.Mutex
	recs   map[string]*upRec // by recording ID
	order  []string          // recording IDs, oldest first: the queue is served in this order
	kick   chan struct{}     // closed (and replaced) when there may be new work
	bucket bool              // the bucket is known to exist
}

// upRec is one recording's queue.
type upRec struct {
	id, dir  string
	pending  []string        // files to upload, in the order they closed
	queued   map[string]bool // pending or in flight
	inflight map[string]bool
	closed   bool // the final playlist and recording.json are queued or done
	uploaded int  // files confirmed
	failures int  // consecutive failures: the back-off
	retryAt  time.Time
	lastErr  string
	gone     bool // deleted meanwhile: an upload that completes now is removed again
}

var _ record.Uploads = (*Uploader)(nil)

// NewUploader returns an uploader to st.
func NewUploader(st *Store, o Options) *Uploader { return newUploader(st, o) }

func newUploader(st files, o Options) *Uploader {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultRetryMax, o.RetryMin)
	}
	if o.UploadTimeout <= 0 {
		o.UploadTimeout = DefaultUploadTimeout
	}
	if abs, err := filepath.Abs(o.Root); err == nil {
		o.Root = abs
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Uploader{store: st, opts: o, log: log, recs: map[string]*upRec{}, kick: make(chan struct{})}
}

// final files are uploaded last, once every other file of the closed recording is in the
// bucket: a reader of the bucket that finds the final playlist finds every segment it lists.
func final(name string) bool { return name == record.PlaylistFile || name == record.InfoFile }

// kept files stay on the disk after their upload whatever keep_local says: the catalogue and
// Recover read them, and they are small.
func kept(name string) bool { return final(name) || name == record.UploadsFile }

// FileClosed queues dir/name (record.Uploads).
func (u *Uploader) FileClosed(dir, name string) { u.Add(dir, name) }

// RecordingClosed queues the final playlist and recording.json of the recording in dir
// (record.Uploads).
func (u *Uploader) RecordingClosed(dir string) {
	// What was made beside the recording while it went on (a thumbnail) goes too.
	todo, _, err := u.notUploaded(dir)
	if err != nil {
		u.log.Warn("object storage: cannot read a recording's upload ledger", "dir", dir, "error", err.Error())
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.recLocked(dir)
	r.closed = true
	for _, n := range todo {
		u.queueLocked(r, n)
	}
	u.queueLocked(r, record.PlaylistFile)
	u.queueLocked(r, record.InfoFile)
	u.wakeLocked()
}

// Add queues a file of the recording in dir that was made after it closed (the replay MP4,
// the thumbnail).
func (u *Uploader) Add(dir, name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.queueLocked(u.recLocked(dir), name)
	u.wakeLocked()
}

// Forget drops a deleted recording's queue; an upload of it in flight is deleted again when
// it completes.
func (u *Uploader) Forget(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if r := u.recs[id]; r != nil {
		r.gone = true
		delete(u.recs, id)
		u.order = slices.DeleteFunc(u.order, func(s string) bool { return s == id })
	}
}

// State returns a recording's upload state; false when the uploader does not know it (it
// is not under the recordings directory, or Run has not scanned yet).
func (u *Uploader) State(id string) (State, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.recs[id]
	if r == nil {
		return State{}, false
	}
	n := len(r.pending) + len(r.inflight)
	return State{Uploaded: r.closed && n == 0, Pending: n, Error: r.lastErr}, true
}

func (u *Uploader) recLocked(dir string) *upRec {
	id := filepath.Base(dir)
	r := u.recs[id]
	if r == nil {
		r = &upRec{id: id, dir: dir, queued: map[string]bool{}, inflight: map[string]bool{}}
		u.recs[id] = r
		u.order = append(u.order, id)
	}
	return r
}

func (u *Uploader) queueLocked(r *upRec, name string) {
	if r.queued[name] {
		return
	}
	r.queued[name] = true
	r.pending = append(r.pending, name)
}

func (u *Uploader) wakeLocked() {
	close(u.kick)
	u.kick = make(chan struct{})
}

// Run scans the recordings directory for what is not uploaded yet (a restart resumes the
// uploads), then uploads until ctx is cancelled. Call it after record.Recover (which closes
// the recordings a crash left open). Uploads in flight at cancellation are abandoned; they
// are done again at the next start.
func (u *Uploader) Run(ctx context.Context) error {
	u.scan()
	var wg sync.WaitGroup
	for range u.opts.Concurrency {
		wg.Go(func() { u.work(ctx) })
	}
	wg.Wait()
	return nil
}

// scan queues every file of every recording under Root that its ledger does not list.
func (u *Uploader) scan() {
	entries, err := os.ReadDir(u.opts.Root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			u.log.Error("object storage: cannot read the recordings directory", "dir", u.opts.Root, "error", err.Error())
		}
		return
	}
	type found struct {
		in    record.Info
		files []string
	}
	var all []found
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(u.opts.Root, e.Name())
		in, err := record.ReadInfo(dir)
		if err != nil {
			continue // not a recording (Recover said so)
		}
		todo, done, err := u.notUploaded(dir)
		if err != nil {
			u.log.Error("object storage: cannot read a recording's upload ledger", "recording", in.ID, "error", err.Error())
			continue
		}
		closed := in.State != record.Recording && in.State != record.Paused
		if closed {
			for _, n := range []string{record.PlaylistFile, record.InfoFile} {
				if _, ok := done[n]; !ok {
					todo = append(todo, n)
				}
			}
		}
		u.mu.Lock()
		r := u.recLocked(dir)
		r.closed = r.closed || closed
		r.uploaded = len(done)
		for _, n := range todo {
			u.queueLocked(r, n)
		}
		u.mu.Unlock()
		all = append(all, found{in, todo})
	}
	pending := 0
	for _, f := range all {
		pending += len(f.files)
	}
	if pending > 0 {
		u.log.Info("object storage: resuming uploads", "recordings", len(all), "files", pending)
	}
	u.mu.Lock()
	slices.Sort(u.order)
	u.wakeLocked()
	u.mu.Unlock()
}

// notUploaded returns the files of the recording in dir that go to the bucket, are not in its
// ledger yet and are not final, in the order to upload them, and the ledger. The local
// copies of files the ledger lists are removed (a removal a stop interrupted), unless
// keep_local.
func (u *Uploader) notUploaded(dir string) ([]string, map[string]record.Upload, error) {
	done, err := record.ReadUploads(dir)
	if err != nil {
		return nil, nil, err
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var todo []string
	for _, f := range files {
		n := f.Name()
		if !f.Type().IsRegular() || kept(n) || !uploadable(n) {
			continue
		}
		if _, ok := done[n]; ok {
			if !u.opts.KeepLocal {
				_ = os.Remove(filepath.Join(dir, n))
			}
			continue
		}
		todo = append(todo, n)
	}
	slices.SortFunc(todo, fileOrder)
	return todo, done, nil
}

// uploadable is a file of a recording that goes to the bucket.
func uploadable(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false // temporary files
	}
	return name == record.PlaylistFile || name == record.InfoFile || strings.HasSuffix(name, ".m4s") ||
		strings.HasSuffix(name, ".mp4") || strings.HasSuffix(name, ".jpg")
}

// fileOrder sorts a recording's files as the recorder wrote them: init-1 before seg-1, by
// number, then the rest.
func fileOrder(a, b string) int {
	return cmp.Compare(fileRank(a), fileRank(b))
}

func fileRank(name string) int {
	num := func(prefix, suffix string) int {
		s, ok := strings.CutPrefix(name, prefix)
		if !ok {
			return -1
		}
		s, ok = strings.CutSuffix(s, suffix)
		if !ok {
			return -1
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return -1
		}
		return n
	}
	// Every init segment first, then the media segments by number, then the rest: the
	// bucket only has to be complete once the playlist, uploaded last, lists them.
	if n := num("init-", ".mp4"); n >= 0 {
		return n
	}
	if n := num("seg-", ".m4s"); n >= 0 {
		return 1<<20 + n
	}
	return 1 << 40
}

// next takes the next file to upload, or says how long until one may be ready.
func (u *Uploader) next(now time.Time) (r *upRec, name string, wait time.Duration, kick <-chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	wait = time.Hour
	for _, id := range u.order {
		r := u.recs[id]
		if len(r.pending) == 0 {
			continue
		}
		if now.Before(r.retryAt) {
			wait = min(wait, r.retryAt.Sub(now))
			continue
		}
		// Media first, in order; the final playlist and recording.json only once every
		// other file of the recording is in the bucket.
		idx := slices.IndexFunc(r.pending, func(s string) bool { return !final(s) })
		if idx < 0 {
			if len(r.inflight) > 0 {
				continue
			}
			idx = 0
		}
		n := r.pending[idx]
		r.pending = slices.Delete(r.pending, idx, idx+1)
		r.inflight[n] = true
		return r, n, 0, nil
	}
	return nil, "", wait, u.kick
}

// work uploads files until ctx is cancelled.
func (u *Uploader) work(ctx context.Context) {
	for {
		r, name, wait, kick := u.next(time.Now())
		if r == nil {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-kick:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		err := u.upload(ctx, r, name)
		if ctx.Err() != nil {
			return // abandoned: done again at the next start
		}
		u.done(ctx, r, name, err)
	}
}

// upload copies one file, then writes it to the ledger and removes the local copy.
func (u *Uploader) upload(ctx context.Context, r *upRec, name string) error {
	path := filepath.Join(r.dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	u.mu.Lock()
	haveBucket := u.bucket
	u.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, u.opts.UploadTimeout)
	defer cancel()
	if !haveBucket {
		if err := u.store.EnsureBucket(cctx); err != nil {
			return err
		}
		u.mu.Lock()
		u.bucket = true
		u.mu.Unlock()
	}
	if err := u.store.PutFile(cctx, r.id, name, path); err != nil {
		return err
	}
	if err := record.MarkUploaded(r.dir, name, record.Upload{Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
		// In the bucket but not in the ledger (a full disk): kept locally and uploaded again
		// later, which is harmless.
		return errors.New("upload ledger: " + err.Error())
	}
	if !u.opts.KeepLocal && !kept(name) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("object storage: uploaded, but the local copy cannot be removed", "recording", r.id, "file", name, "error", err.Error())
		}
	}
	return nil
}

func (u *Uploader) done(ctx context.Context, r *upRec, name string, err error) {
	u.mu.Lock()
	delete(r.inflight, name)
	gone := r.gone
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		delete(r.queued, name)
		if err != nil {
			// The local file is gone without being uploaded (deleted by hand): nothing to do.
			u.mu.Unlock()
			u.log.Warn("object storage: a file to upload is gone from the disk", "recording", r.id, "file", name)
			return
		}
		r.uploaded++
		if r.failures > 0 {
			u.log.Info("object storage: uploads work again", "recording", r.id, "after_failures", r.failures)
		}
		r.failures, r.retryAt, r.lastErr = 0, time.Time{}, ""
		finished := r.closed && len(r.pending) == 0 && len(r.inflight) == 0
		u.wakeLocked()
		u.mu.Unlock()
		if gone {
			_ = u.store.RemoveRecording(ctx, r.id)
			return
		}
		if finished {
			u.log.Info("object storage: recording uploaded", "recording", r.id, "files", r.uploaded)
		}
		return
	}
	// Failed: back to the head of its queue, after a back-off.
	r.pending = append([]string{name}, r.pending...)
	r.failures++
	d := u.opts.RetryMin << min(r.failures-1, 20)
	if d > u.opts.RetryMax || d <= 0 {
		d = u.opts.RetryMax
	}
	r.retryAt = time.Now().Add(d)
	first := r.lastErr == ""
	r.lastErr = err.Error()
	n := len(r.pending) + len(r.inflight)
	u.mu.Unlock()
	if first {
		u.log.Warn("object storage: upload failed; the files wait on the disk and are retried", "recording", r.id,
			"file", name, "pending", n, "retry_in", d.String(), "error", err.Error())
	} else {
		u.log.Debug("object storage: upload failed again", "recording", r.id, "file", name, "retry_in", d.String(), "error", err.Error())
	}
}
