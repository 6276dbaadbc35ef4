package manage_test

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
	"github.com/beffroi/beffroi/web/manage"
)

type broadcastFixture struct {
	reg  *relay.Registry
	st   *relay.Stream
	dir  string
	srv  *httptest.Server
	logs *testutil.LogBuffer
}

func newBroadcastFixture(t *testing.T) *broadcastFixture {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute})
	t.Cleanup(reg.StopAll)
	st, err := reg.Add("conseil", "pk-conseil-0123")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	dir := filepath.Join(t.TempDir(), "standby")
	h := &manage.Handler{Registry: reg, Log: logs.Logger(), StandbyDir: dir}
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &broadcastFixture{reg: reg, st: st, dir: dir, srv: srv, logs: logs}
}

func (f *broadcastFixture) do(t *testing.T, method, path, ctype string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestPauseAndEnd(t *testing.T) {
	f := newBroadcastFixture(t)
	const path = "/api/v1/streams/conseil"
	if code, body := f.do(t, "POST", path+"/standby", "application/json", []byte(`{"on":true}`)); code != http.StatusConflict {
		t.Errorf("pause an idle stream: %d %s, want 409", code, body)
	}
	if code, _ := f.do(t, "POST", path+"/end", "application/json", nil); code != http.StatusConflict {
		t.Errorf("end an idle stream: %d, want 409", code)
	}
	if code, _ := f.do(t, "POST", "/api/v1/streams/nope/end", "application/json", nil); code != http.StatusNotFound {
		t.Errorf("end an unknown stream: %d, want 404", code)
	}
	p := relaytest.Publish(t, f.st, relaytest.Options{})
	p.Send(time.Second)
	if code, body := f.do(t, "POST", path+"/standby", "application/json", []byte(`{}`)); code != http.StatusBadRequest {
		t.Errorf("standby without on: %d %s, want 400", code, body)
	}
	code, body := f.do(t, "POST", path+"/standby", "application/json", []byte(`{"on":true}`))
	if code != http.StatusOK || !strings.Contains(body, `"paused": true`) || !f.st.Paused() {
		t.Fatalf("pause: %d %s", code, body)
	}
	code, body = f.do(t, "POST", path+"/standby", "application/json", []byte(`{"on":false}`))
	if code != http.StatusOK || !strings.Contains(body, `"paused": false`) || f.st.Paused() {
		t.Fatalf("resume: %d %s", code, body)
	}
	if f.logs.Count("operator change", "stream.pause") != 1 || f.logs.Count("operator change", "stream.resume") != 1 {
		t.Errorf("pause and resume not audited:\n%s", f.logs.String())
	}
	r, err := f.st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	code, body = f.do(t, "POST", path+"/end", "application/json", nil)
	if code != http.StatusOK || !strings.Contains(body, `"state": "idle"`) {
		t.Fatalf("end: %d %s", code, body)
	}
	if st, _ := f.st.State(); st != relay.Idle {
		t.Errorf("state after end: %v, want idle at once (no grace)", st)
	}
	if _, err := r.Next(t.Context()); !errors.Is(err, relay.ErrEnded) {
		t.Errorf("reader after end: %v, want ErrEnded", err)
	}
	if f.logs.Count("operator change", "stream.end") != 1 {
		t.Errorf("end not audited")
	}
}

func encodeImage(t *testing.T, format string, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestStandbyImage(t *testing.T) {
	f := newBroadcastFixture(t)
	const path = "/api/v1/streams/conseil/standby-image"
	pngImg := encodeImage(t, "png", 640, 360)
	for _, c := range []struct {
		name string
		body []byte
		want int
	}{
		{"text", []byte("hello, not an image"), http.StatusUnsupportedMediaType},
		{"truncated png", pngImg[:len(pngImg)/2], http.StatusUnsupportedMediaType},
		{"too small", encodeImage(t, "png", 8, 8), http.StatusUnsupportedMediaType},
		{"too large", make([]byte, manage.MaxStandbyImageBytes+1), http.StatusRequestEntityTooLarge},
	} {
		if code, body := f.do(t, "PUT", path, "image/png", c.body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if manage.StandbyImage(f.dir, "conseil") != "" {
		t.Fatal("a refused image was kept")
	}
	if code, body := f.do(t, "PUT", path, "image/png", pngImg); code != http.StatusNoContent {
		t.Fatalf("upload a PNG: %d %s", code, body)
	}
	got := manage.StandbyImage(f.dir, "conseil")
	if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, pngImg) || filepath.Ext(got) != ".png" {
		t.Fatalf("kept %q: %v", got, err)
	}
	if code, _ := f.do(t, "PUT", path, "image/jpeg", encodeImage(t, "jpeg", 1280, 720)); code != http.StatusNoContent {
		t.Fatalf("upload a JPEG: %d", code)
	}
	if got := manage.StandbyImage(f.dir, "conseil"); filepath.Ext(got) != ".jpg" {
		t.Errorf("after a JPEG upload the image is %q", got)
	}
	if code, _ := f.do(t, "DELETE", path, "", nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	if manage.StandbyImage(f.dir, "conseil") != "" {
		t.Error("the image is still there after DELETE")
	}
	if code, _ := f.do(t, "DELETE", path, "", nil); code != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", code)
	}
}
