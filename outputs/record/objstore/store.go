package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config is where the store is and how to sign in (record.s3).
type Config struct {
	Endpoint  string // host[:port], no scheme
	Bucket    string
	Region    string // "" lets the client ask the server (us-east-1 for most)
	AccessKey string // secret
	SecretKey string // secret
	Prefix    string // prepended to every key ("beffroi/"); "" for none
	UseSSL    bool
}

// Store is one bucket of an S3-compatible object store.
type Store struct {
	c       *minio.Client
	bucket  string
	prefix  string
	secrets []string // never let these through an error message
}

// New returns the store cfg describes. It does not connect: an unreachable store is only
// found out by the first request (a recording never waits for it).
func New(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("object storage: endpoint and bucket are required")
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseSSL,
		Region:    cfg.Region,
		Transport: tr,
		// The upload queue retries with its own back-off and says so; the client's own
		// retries would only hide an outage for a while.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("object storage %s: %w", cfg.Endpoint, err)
	}
	p := strings.Trim(cfg.Prefix, "/")
	if p != "" {
		p += "/"
	}
	var secrets []string
	for _, s := range []string{cfg.SecretKey, cfg.AccessKey} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	return &Store{c: c, bucket: cfg.Bucket, prefix: p, secrets: secrets}, nil
}

// Key is the object key of a recording's file.
func (s *Store) Key(id, name string) string { return s.prefix + id + "/" + name }

// clean wraps err with what failed, without any credential in its text.
func (s *Store) clean(what string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, sec := range s.secrets {
		msg = strings.ReplaceAll(msg, sec, "[redacted]")
	}
	if resp := minio.ToErrorResponse(err); resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %s: %w", what, msg, fs.ErrNotExist)
	}
	return fmt.Errorf("%s: %s", what, msg)
}

// EnsureBucket creates the bucket when it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.clean("bucket "+s.bucket, err)
	}
	if ok {
		return nil
	}
	if err := s.c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}); err != nil {
		return s.clean("create bucket "+s.bucket, err)
	}
	return nil
}

// PutFile uploads the local file path as the recording's file name.
func (s *Store) PutFile(ctx context.Context, id, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = s.c.PutObject(ctx, s.bucket, s.Key(id, name), f, fi.Size(), minio.PutObjectOptions{ContentType: ContentType(name)})
	return s.clean("upload "+s.Key(id, name), err)
}

// Object is one stored file being read: it seeks, so http.ServeContent serves ranges of it.
type Object struct {
	io.ReadSeekCloser
	Size    int64
	ModTime time.Time
}

// Open opens the recording's file name in the bucket; an error wrapping fs.ErrNotExist when
// it is not there.
func (s *Store) Open(ctx context.Context, id, name string) (*Object, error) {
	o, err := s.c.GetObject(ctx, s.bucket, s.Key(id, name), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.clean("read "+s.Key(id, name), err)
	}
	st, err := o.Stat()
	if err != nil {
		_ = o.Close()
		return nil, s.clean("read "+s.Key(id, name), err)
	}
	return &Object{ReadSeekCloser: o, Size: st.Size, ModTime: st.LastModified}, nil
}

// Fetch downloads the recording's file name to the local file dst.
func (s *Store) Fetch(ctx context.Context, id, name, dst string) error {
	o, err := s.Open(ctx, id, name)
	if err != nil {
		return err
	}
	defer o.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s.clean("read "+s.Key(id, name), err)
	}
	return nil
}

// Exists reports whether the recording's file name is in the bucket.
func (s *Store) Exists(ctx context.Context, id, name string) (bool, error) {
	_, err := s.c.StatObject(ctx, s.bucket, s.Key(id, name), minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	err = s.clean("stat "+s.Key(id, name), err)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// Presign returns a URL that reads the recording's file name from the bucket for expiry,
// without credentials.
func (s *Store) Presign(ctx context.Context, id, name string, expiry time.Duration) (string, error) {
	u, err := s.c.PresignedGetObject(ctx, s.bucket, s.Key(id, name), expiry, nil)
	if err != nil {
		return "", s.clean("presign "+s.Key(id, name), err)
	}
	return u.String(), nil
}

// RemoveRecording deletes every object of a recording.
func (s *Store) RemoveRecording(ctx context.Context, id string) error {
	prefix := s.prefix + id + "/"
	objs := make(chan minio.ObjectInfo)
	var listErr error
	go func() {
		defer close(objs)
		for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				listErr = o.Err
				return
			}
			select {
			case objs <- o:
			case <-ctx.Done():
				return
			}
		}
	}()
	var rmErr error
	for e := range s.c.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if rmErr == nil {
			rmErr = e.Err
		}
	}
	if listErr != nil {
		return s.clean("list "+prefix, listErr)
	}
	return s.clean("delete "+prefix, rmErr)
}

// ContentType is the type a recording's file is stored and served with.
func ContentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".m3u8"):
		return "application/vnd.apple.mpegurl"
	case strings.HasSuffix(name, ".m4s"):
		return "video/iso.segment"
	case strings.HasSuffix(name, ".mp4"):
		return "video/mp4"
	case strings.HasSuffix(name, ".jpg"):
		return "image/jpeg"
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

// Bucket is a store and the queue uploading to it: what the replays need.
type Bucket struct {
	*Store
	*Uploader
}
