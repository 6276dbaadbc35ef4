package web_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/web"
	"github.com/beffroi/beffroi/web/auth"
	"github.com/beffroi/beffroi/web/auth/authtest"
	"github.com/beffroi/beffroi/web/clips"
	"github.com/beffroi/beffroi/web/manage"
	"github.com/beffroi/beffroi/web/manage/managetest"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/store"
)

// routePattern finds the routes the code registers: "METHOD /api/v1/...".
var routePattern = regexp.MustCompile(`"(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^" ]*)"`)

// TestOpenAPIMatchesHandlers: every path and method of /api/v1/openapi.json is served by a
// handler, and every /api/v1 route registered anywhere in the code is in the document.
func TestOpenAPIMatchesHandlers(t *testing.T) {
	reg := newRegistry(t)
	accounts := &auth.Service{Store: authtest.NewMemStore()}
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := web.New(web.Options{Registry: reg, Destinations: fakeDestinations{}, Accounts: accounts,
		Manage:   &manage.Handler{Registry: reg, Outputs: nopOutputs{}, Store: &managetest.MemStore{}},
		Replays:  &replays.Service{Store: db},
		Clips:    &clips.Service{Store: db, Dir: t.TempDir()},
		Audience: audience.New(audience.Options{}),
		// The composition root serves the reload; here any handler that answers stands in.
		Reload: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnprocessableEntity) })})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	res, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("document: %v, openapi %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	fill := strings.NewReplacer("{name}", "conseil", "{dest}", "nope", "{id}", "999", "{stream}", "conseil", "{session}", "nope", "{file}", "nope")
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			m := strings.ToUpper(method)
			documented[m+" "+path] = true
			req, _ := http.NewRequest(m, srv.URL+fill.Replace(path), strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(b), "no such API route") || res.StatusCode == http.StatusMethodNotAllowed {
				t.Errorf("documented %s %s is not served: %d %s", m, path, res.StatusCode, b)
			}
		}
	}

	// Every route the code registers is documented.
	root := filepath.Join("..")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range routePattern.FindAllStringSubmatch(string(src), -1) {
			if !documented[m[1]+" "+m[2]] {
				t.Errorf("%s registers %s %s, which /api/v1/openapi.json does not document", p, m[1], m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) < 20 {
		t.Fatalf("only %d operations documented", len(documented))
	}
}

// nopOutputs is a destination manager with no destination.
type nopOutputs struct{ fakeDestinations }

func (nopOutputs) Add(string, outputs.DestinationConfig) error { return outputs.ErrNotFound }
func (nopOutputs) Remove(string, string) error                 { return outputs.ErrNotFound }
func (nopOutputs) SetEnabled(string, string, bool) error       { return outputs.ErrNotFound }
