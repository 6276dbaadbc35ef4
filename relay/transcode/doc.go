// Package transcode makes the derived renditions of a stream for readers that cannot take its
// codecs (an RTMP platform needs AAC, a phone published Opus over WebRTC). Renditions.Fit is
// the one way a reader gets the stream that fits its needs: the source itself when it fits,
// else one ffmpeg process per (stream, needs), fed by an ordinary relay reader and shared by
// every reader with those needs, copying the video when it fits and converting the rest.
package transcode
