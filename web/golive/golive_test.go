package golive

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPageAndAssets(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, tt := range []struct {
		path, ctype, contains string
		code                  int
	}{
		{"/go-live", "text/html", `id="golive"`, 200},
		{"/go-live/concert", "text/html", `/go-live/assets/golive.js`, 200},
		{"/go-live/assets/golive.js", "javascript", "/whip/", 200},
		{"/go-live/assets/golive.css", "text/css", ".onair", 200},
		{"/go-live/assets/secret.txt", "", "", 404},
	} {
		res, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d", tt.path, res.StatusCode, tt.code)
			continue
		}
		if tt.code != 200 {
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, tt.ctype) {
			t.Errorf("%s: Content-Type %q, want %s", tt.path, ct, tt.ctype)
		}
		if !strings.Contains(string(body), tt.contains) {
			t.Errorf("%s: body lacks %q", tt.path, tt.contains)
		}
	}
	// No asset comes from outside: the page works on a closed event network.
	res, _ := http.Get(srv.URL + "/go-live")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
		t.Error("the page loads something from another site")
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("the page may leak its URL (which can hold the publish key) as a referrer")
	}
}
