// Package transcode makes the derived renditions of a stream for readers that cannot take its
// codecs (an RTMP platform needs AAC, a phone published Opus over WebRTC): one ffmpeg process
// per (stream, needs), fed by an ordinary relay reader and shared by every reader with those
// needs, copying the video and converting the audio.
package transcode
