// Package assets serves the files every Beffroi page shares, such as the HLS player
// library, from the binary itself: event networks are bad, and nothing comes from outside.
//
// Vendored: hls.js 1.7.4 (Apache-2.0, vendor/hls.js.LICENSE), copied unchanged from the
// npm package's dist/hls.min.js; qrcode-generator 2.0.4 (MIT, vendor/qrcode-generator.LICENSE),
// copied unchanged from the npm package's dist/qrcode.mjs (an ES module: the console draws the
// go-live page's QR code with it). Each file name carries its version, so it is served as
// immutable; to upgrade, add the new file and change the constant.
package assets

import (
	"embed"
	"net/http"
)

//go:embed vendor
var files embed.FS

// HLSJS is the URL path of the vendored hls.js, for pages that play HLS where the browser
// cannot (everything but Safari).
const HLSJS = "/assets/vendor/hls-1.7.4.min.js"

// QRCode is the URL path of the vendored qrcode-generator ES module.
const QRCode = "/assets/vendor/qrcode-generator-2.0.4.mjs"

// Handler serves GET /assets/vendor/{file}.
func Handler() http.Handler {
	return http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		http.ServeFileFS(w, r, files, r.URL.Path)
	}))
}
