package app

import (
	"fmt"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/outputs/record/objstore"
)

// newObjectStorage makes the S3 store and its upload queue when record.storage is s3 (nil
// otherwise). It does not connect: a store that is down at start-up only delays the uploads.
func (a *App) newObjectStorage() error {
	cfg := a.cfg.Record
	if cfg.Storage != config.StorageS3 {
		return nil
	}
	st, err := objstore.New(objstore.Config{
		Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket, Region: cfg.S3.Region,
		AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, Prefix: cfg.S3.Prefix, UseSSL: cfg.S3.UseSSL,
	})
	if err != nil {
		return fmt.Errorf("record.s3: %w", err)
	}
	a.objects = &objstore.Bucket{Store: st, Uploader: objstore.NewUploader(st, objstore.Options{
		Root: a.cfg.RecordingsDir(), KeepLocal: cfg.S3.KeepLocal, Logger: a.log,
	})}
	scheme := "https"
	if !cfg.S3.UseSSL {
		scheme = "http"
	}
	a.log.Info("recordings go to object storage", "endpoint", scheme+"://"+cfg.S3.Endpoint, "bucket", cfg.S3.Bucket,
		"prefix", cfg.S3.Prefix, "keep_local", cfg.S3.KeepLocal, "presign", cfg.S3.Presign)
	return nil
}

// recordUploads is what the recorder tells of each closed file: the upload queue, or nil.
func (a *App) recordUploads() record.Uploads {
	if a.objects == nil {
		return nil // not a typed nil in the interface
	}
	return a.objects.Uploader
}

// attachObjects lets the replays read from and delete in the bucket, and the clips fetch
// their segments back from it.
func (a *App) attachObjects() {
	if a.objects == nil {
		return
	}
	a.Replays.Objects = *a.objects
	a.Replays.Presign = a.cfg.Record.S3.Presign
	a.Clips.Fetch = a.objects.Fetch
}

// uploaderComponents is the upload queue, when there is one, as a component.
func (a *App) uploaderComponents() []Component {
	if a.objects == nil {
		return nil
	}
	return []Component{{"recording uploads", a.objects.Run}}
}
