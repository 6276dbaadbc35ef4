// Package watch serves the public player pages: /watch/{stream}, a page of its own, and
// /embed/{stream}, the same player made for an <iframe> on the town's website. The player
// uses WebRTC (WHEP) for the lowest latency where it connects and LL-HLS otherwise, shows
// a "starts soon" poster while the stream is offline and switches to the live stream by
// itself. Every asset is embedded; the pages set no cookie and load nothing from outside.
package watch
