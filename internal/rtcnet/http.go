package rtcnet

import "net/http"

// Signalling wraps the WHIP or WHEP routes of mux (all under prefix, "/whip/" or "/whep/") for
// browsers on any site: CORS answers with the headers the protocols use (RFC 9725's
// If-Match, ETag and Accept-Patch included), an OPTIONS preflight under prefix, and no
// caching of offers and answers.
func Signalling(mux *http.ServeMux, prefix string) http.Handler {
	mux.HandleFunc("OPTIONS "+prefix, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match")
		h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch")
		h.Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}
