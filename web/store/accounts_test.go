package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/beffroi/beffroi/web/auth/authtest"
	"github.com/beffroi/beffroi/web/manage/managetest"
)

func TestAuthStoreConformance(t *testing.T) {
	authtest.StoreConformance(t, open(t, filepath.Join(t.TempDir(), FileName)))
}

func TestManageStoreConformance(t *testing.T) {
	managetest.StoreConformance(t, open(t, filepath.Join(t.TempDir(), FileName)))
}

// The database holds publish keys and platform stream keys: only its owner reads it.
func TestDatabaseFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	open(t, path)
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p) // open ran the migrations: the database and its WAL exist
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others can read the keys", p, fi.Mode().Perm())
		}
	}
}
