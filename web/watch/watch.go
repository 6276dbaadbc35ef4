package watch

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"regexp"
	"strings"

	"github.com/beffroi/beffroi/web/assets"
)

//go:embed index.html watch.js watch.css
var files embed.FS

// Modes a player can be told to play in.
const (
	// ModeAuto plays over WebRTC where it connects, else HLS.
	ModeAuto = "auto"
	// ModeHLS plays over HLS only (scale mode: a CDN can serve it).
	ModeHLS = "hls"
	// ModeWebRTC plays over WebRTC only.
	ModeWebRTC = "webrtc"
)

// Options configures the pages.
type Options struct {
	// Mode is the operator's choice of protocol; "" means ModeAuto. A viewer's URL may ask
	// for another with ?mode=hls or ?mode=webrtc.
	Mode string
	// Exists, when set, tells whether a stream exists: pages of unknown streams are 404.
	Exists func(stream string) bool
	// PublicURL is the base URL the public reaches Beffroi by (http.public_url): the pages'
	// canonical and og:url links. Empty: the pages carry none (never one built from the
	// request's Host, which anyone can set).
	PublicURL string
}

// streamRE is the rule of stream names (config's slug rule).
var streamRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

type pageData struct {
	Stream    string
	Mode      string
	Embed     bool
	HLSJS     string
	Canonical string // the watch page's public URL, "" without http.public_url
}

// csp keeps the pages to Beffroi's own origin. media-src and worker-src allow blob: for
// hls.js (MediaSource and its transmuxing worker).
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'"

// Handler serves GET /watch/{stream}, GET /embed/{stream} and GET /watch/assets/{file}.
func Handler(o Options) http.Handler {
	if o.Mode == "" {
		o.Mode = ModeAuto
	}
	// Embedded, so it parses; should it not, the pages say why.
	page, perr := template.ParseFS(files, "index.html")
	mux := http.NewServeMux()
	serve := func(embed bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("stream")
			if !streamRE.MatchString(name) || (o.Exists != nil && !o.Exists(name)) {
				http.Error(w, "no such stream", http.StatusNotFound)
				return
			}
			if perr != nil {
				http.Error(w, "rendering the page: "+perr.Error(), http.StatusInternalServerError)
				return
			}
			var b bytes.Buffer
			d := pageData{Stream: name, Mode: o.Mode, Embed: embed, HLSJS: assets.HLSJS}
			if base := strings.TrimSuffix(o.PublicURL, "/"); base != "" {
				d.Canonical = base + "/watch/" + name
			}
			if err := page.Execute(&b, d); err != nil {
				http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
				return
			}
			h := w.Header()
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
			if embed {
				// Any site may frame the embed page: that is what it is for.
				h.Set("Content-Security-Policy", csp)
			} else {
				h.Set("Content-Security-Policy", csp+"; frame-ancestors 'self'")
				h.Set("X-Frame-Options", "SAMEORIGIN")
			}
			_, _ = w.Write(b.Bytes())
		}
	}
	mux.HandleFunc("GET /watch/{stream}", serve(false))
	mux.HandleFunc("GET /embed/{stream}", serve(true))
	mux.HandleFunc("GET /watch/assets/{file}", func(w http.ResponseWriter, r *http.Request) {
		switch f := r.PathValue("file"); f {
		case "watch.js", "watch.css":
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.ServeFileFS(w, r, files, f)
		default:
			http.NotFound(w, r)
		}
	})
	return mux
}
