// Package outputs runs push destinations: one supervisor per destination that connects while
// its stream is live and the destination is enabled, reports a state the console can show,
// counts what it sends, and reconnects with backoff and jitter. Protocol pushers (outputs/rtmp,
// ...) plug in through the Pusher interface; a pusher that accepts only some codecs (Needer)
// reads the stream that fits its needs, the source or a rendition (Renditions, which
// relay/transcode implements).
package outputs
