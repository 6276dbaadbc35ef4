package assets

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesHLSJS(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + HLSJS)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(b), "isSupported") || len(b) < 100000 {
		t.Fatalf("not hls.js: %d bytes", len(b))
	}
	if !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/assets/vendor/nope.js", "/assets/../assets.go"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 && res.StatusCode != 400 {
			t.Fatalf("%s: status %d, want 404 or 400", p, res.StatusCode)
		}
	}
}

func TestServesQRCodeModule(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + QRCode)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// Browsers run an ES module only when it comes with a JavaScript type.
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(b), "export default qrcode") {
		t.Fatalf("not the qrcode-generator module: %d bytes", len(b))
	}
}
