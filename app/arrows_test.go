package app

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/beffroi/beffroi/"

// pkg is what `go list -json` says of one package of the module.
type pkg struct {
	ImportPath string
	Imports    []string // direct
	Deps       []string // transitive
}

// listPackages returns every package of the module (tests excluded: the arrows are about
// what ships).
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", module+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var l []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		l = append(l, p)
	}
	if len(l) < 20 {
		t.Fatalf("go list found %d packages", len(l))
	}
	return l
}

// under reports whether the import path p is the module's folder dir or inside it.
func under(p, dir string) bool {
	return p == module+dir || strings.HasPrefix(p, module+dir+"/")
}

// protocolLibraries are the libraries that speak a network protocol (or HTTP): the media
// plane imports none of them, even indirectly.
var protocolLibraries = []string{
	"github.com/bluenviron/gortmplib", "github.com/bluenviron/gortsplib", "github.com/bluenviron/gohlslib",
	"github.com/pion/", "github.com/datarhei/gosrt", "github.com/gorilla/websocket",
	"github.com/prometheus/",
}

// TestArrowsGoOneWay keeps the house's arrows one way (DESIGN.md, Layout): relay imports no
// protocol, no HTTP and nothing of ours outside relay; ingest and outputs never import each
// other; nothing but cmd, the tests and the load tools imports the composition root.
func TestArrowsGoOneWay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, p := range listPackages(t) {
		name := strings.TrimPrefix(p.ImportPath, module)
		if under(p.ImportPath, "relay") {
			for _, d := range p.Deps {
				// relaytest, the protocol tests' fake publisher, shares internal/testutil's media.
				helper := name == "relay/relaytest" && under(d, "internal/testutil")
				if strings.HasPrefix(d, module) && !under(d, "relay") && !helper {
					t.Errorf("%s depends on %s: the media plane imports nothing of ours outside relay/", name, d)
				}
				for _, lib := range protocolLibraries {
					if strings.HasPrefix(d, lib) {
						t.Errorf("%s depends on %s: the media plane speaks no protocol", name, d)
					}
				}
			}
			for _, d := range p.Imports {
				if d == "net/http" || d == "net" {
					t.Errorf("%s imports %s: the media plane has no sockets", name, d)
				}
			}
		}
		for _, pair := range [][2]string{{"ingest", "outputs"}, {"outputs", "ingest"}} {
			if under(p.ImportPath, pair[0]) {
				for _, d := range p.Deps {
					if under(d, pair[1]) {
						t.Errorf("%s depends on %s: %s and %s never import each other", name, d, pair[0], pair[1])
					}
				}
			}
		}
		if !under(p.ImportPath, "app") && !under(p.ImportPath, "cmd") && !under(p.ImportPath, "bench") && !under(p.ImportPath, "test") {
			for _, d := range p.Deps {
				if under(d, "app") {
					t.Errorf("%s depends on the composition root %s", name, d)
				}
			}
		}
	}
}
