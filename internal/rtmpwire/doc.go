// Package rtmpwire turns relay frames into RTMP bytes once per frame, so that every RTMP
// writer (push destinations and RTMP players alike) sends the same prepared bytes with a
// vectored write instead of serialising each frame again for each connection.
//
// gortmplib serialises messages per connection, with header compression that depends on what
// that connection sent before; bytes shared by connections that joined at different times
// must instead start every message with a full (type 0) chunk header. This package builds the
// message bodies with gortmplib's own message types, chunks each message with a fresh
// gortmplib writer (hence type 0 headers), and caches the result on the frame.
package rtmpwire
