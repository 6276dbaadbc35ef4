// Package clips cuts story clips from recordings: an operator picks in and out points
// (at most 60 s), a shape (9:16, 1:1, 16:9), optionally the town's logo and a caption, and
// gets an H.264 + AAC MP4 made by ffmpeg in the background, one or two at a time, with its
// progress, its error when it fails, and a cancel. Only the segments that cover the clip are
// read, and a clip across a discontinuity of the recording (a reconnect) keeps audio and
// video in sync. The clips live in their own directory and go with their recording
// (RecordingRemoved).
package clips
