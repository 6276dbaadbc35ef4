package web

import (
	_ "embed"
	"net/http"
)

// openAPI describes the API. TestOpenAPIMatchesHandlers keeps it true: every route it
// lists is served, and every /api/v1 route the code registers is in it.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}
