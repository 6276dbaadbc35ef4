// Package hls serves each live stream as low-latency HLS (fMP4, parts, blocking playlist
// reload, preload hints) at /hls/<stream>/index.m3u8. bluenviron/gohlslib cuts the segments
// and parts; this package reads what it makes once per part and serves every viewer from those
// prepared bytes, with its own media sequence that survives a muxer restart (new codec
// parameters, a publisher coming back after a gap), headers made for caches and a session
// token per player for the audience count. A source whose codecs HLS cannot carry (see Needs)
// is served from its rendition (relay/transcode).
package hls
