// Package golive serves the go-live page staff open on a phone to broadcast its camera over
// WHIP. Every asset is embedded: event networks are bad, and nothing comes from outside.
package golive

import (
	"embed"
	"net/http"
)

//go:embed index.html golive.js golive.css
var assets embed.FS

// Handler serves /go-live, /go-live/{stream} and /go-live/assets/*.
func Handler() http.Handler {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		// The page may carry a publish key in its URL: tell browsers not to leak it.
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.ServeFileFS(w, r, assets, "index.html")
	}
	mux.HandleFunc("GET /go-live", page)
	mux.HandleFunc("GET /go-live/{stream}", page)
	mux.HandleFunc("GET /go-live/assets/{file}", func(w http.ResponseWriter, r *http.Request) {
		switch f := r.PathValue("file"); f {
		case "golive.js", "golive.css":
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, assets, f)
		default:
			http.NotFound(w, r)
		}
	})
	return mux
}
