package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/web/console"
)

func get(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(console.Handler())
	defer srv.Close()
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/console/js/app.js">`},
		{"/console/app.css", "text/css; charset=utf-8", ".switch"},
		{"/console/icon.svg", "image/svg+xml", "<svg"},
		{"/console/js/app.js", "text/javascript; charset=utf-8", "import"},
		{"/console/js/views/golive.js", "text/javascript; charset=utf-8", "qrcode"},
	} {
		res, body := get(t, srv, "GET", c.path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", c.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", c.path, got)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", c.path, res.Header)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
		if !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
	}
	if res, body := get(t, srv, "HEAD", "/console/js/core.js"); res.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD: %d %q", res.StatusCode, body)
	}
	for _, p := range []string{
		"/console/nope.js", "/console/js/", "/console/", "/console/js/../index.html", "/console/console.go",
		"/console/js/app.js.map", "/console/../console.go", "/index.html", "/streams",
	} {
		if res, _ := get(t, srv, "GET", p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	if res, _ := get(t, srv, "POST", "/"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", res.StatusCode)
	}
}

// TestNoOutsideResources: every URL the console's files name is Beffroi's own (no CDN).
func TestNoOutsideResources(t *testing.T) {
	outside := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|import\s[^;]*from\s*["'](https?:)?//|@import`)
	err := filepath.WalkDir("ui", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if m := outside.Find(b); m != nil {
			t.Errorf("%s loads from outside: %s", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTranslations: every string the console asks for exists in French and in English.
func TestTranslations(t *testing.T) {
	src, err := os.ReadFile("ui/js/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	block := func(name string) map[string]bool {
		s := string(src)
		i := strings.Index(s, "const "+name+" = {")
		j := strings.Index(s[i:], "\n};")
		keys := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)(?:^\s+|,\s)(?:'([\w.]+)'|(\w+)):\s*'`).FindAllStringSubmatch(s[i:i+j], -1) {
			keys[m[1]+m[2]] = true
		}
		return keys
	}
	en, fr := block("en"), block("fr")
	if len(en) < 100 {
		t.Fatalf("found %d English strings", len(en))
	}
	for k := range en {
		if !fr[k] {
			t.Errorf("%q has no French", k)
		}
	}
	for k := range fr {
		if !en[k] {
			t.Errorf("%q has no English", k)
		}
	}
	// Keys used as t('...') in the code, and the families built at run time.
	used := map[string]bool{}
	_ = filepath.WalkDir("ui/js", func(p string, d os.DirEntry, _ error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range regexp.MustCompile(`\bt\('([\w.]+)'\s*[,)]`).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return nil
	})
	for _, fam := range []string{
		"state.idle", "state.live", "state.reconnecting", "state.connecting", "state.retrying", "state.disabled",
		"rec.state.recording", "rec.state.paused", "rec.state.finished", "rec.state.interrupted", "rec.state.off", "rec.state.idle",
		"role.admin", "role.operator",
		"preview.connecting", "preview.playing", "preview.unavailable", "preview.ended", "preview.offline",
	} {
		used[fam] = true
	}
	if len(used) < 100 {
		t.Fatalf("found %d strings used", len(used))
	}
	for k := range used {
		if !en[k] {
			t.Errorf("the console uses %q, which is not translated", k)
		}
	}
}

// TestModulesParse: every console module is valid ES module syntax (node --check), so that
// a typo fails here rather than in a browser. Skipped without node.
func TestModulesParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	n := 0
	err = filepath.WalkDir("ui/js", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".js" {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd := exec.Command(node, "--input-type=module", "--check")
		cmd.Stdin = f
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", p, err, out)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("checked %d modules", n)
	}
}
