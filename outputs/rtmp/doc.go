// Package rtmp pushes a stream to an RTMP or RTMPS ingest (YouTube, Facebook, X, Twitch, a
// custom server) with gortmplib, sending the relay's prepared RTMP bytes.
package rtmp
