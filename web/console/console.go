package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed ui
var files embed.FS

// csp keeps the console to its own origin: scripts, styles, the events websocket and media
// from Beffroi only (blob: for hls.js's worker and media source, data: for images it draws).
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self' ws: wss:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the console: the application shell at / and its files under /console/.
// Every answer says no-cache, so that a browser never mixes the modules of two versions of
// Beffroi after an upgrade; they are small and served from memory.
func Handler() http.Handler {
	ui, _ := fs.Sub(files, "ui") // the console's files, rooted at ui/ (embedded: cannot fail)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		headers(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeFileFS(w, r, ui, "index.html")
	})
	mux.HandleFunc("GET /console/{file...}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		ct := contentType(name)
		if ct == "" || name != path.Clean(name) || strings.HasPrefix(name, ".") {
			http.NotFound(w, r)
			return
		}
		if _, err := fs.Stat(ui, name); err != nil {
			http.NotFound(w, r)
			return
		}
		headers(w)
		w.Header().Set("Content-Type", ct)
		http.ServeFileFS(w, r, ui, name)
	})
	return mux
}

func headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	// The go-live link on purpose carries a publish key: no page the console links to learns it.
	h.Set("Referrer-Policy", "no-referrer")
}

// contentType is the type of a console file, or "" for a kind the console does not serve.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return ""
}
