// Command s3server is a small S3-compatible server for the end-to-end tests: gofakes3 (a
// real implementation of the S3 protocol) over a bolt database file, so that its objects
// survive being killed and started again (an outage in the middle of an event).
//
//	s3server -addr 127.0.0.1:0 -db /tmp/s3.db -bucket recordings
//
// It prints "listening on <addr>" once it accepts connections. It checks no signature: it
// stands in for a store, not for its access control.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	db := flag.String("db", "", "bolt database file holding the buckets (required)")
	bucket := flag.String("bucket", "", "bucket to create at start when it does not exist")
	flag.Parse()
	if err := run(*addr, *db, *bucket); err != nil {
		log.Fatal(err)
	}
}

func run(addr, db, bucket string) error {
	if db == "" {
		return errors.New("-db is required")
	}
	be, err := s3bolt.NewFile(db)
	if err != nil {
		return err
	}
	if bucket != "" {
		ok, err := be.BucketExists(bucket)
		if err != nil {
			return err
		}
		if !ok {
			if err := be.CreateBucket(bucket); err != nil {
				return err
			}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: gofakes3.New(be).Server(), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
