// Package rtsp is Beffroi's RTSP ingest: encoders publish (ANNOUNCE/RECORD) to
// rtsp://host:8554/<stream> with the publish key as ?key= or as the password, and a Puller
// pulls an IP camera's rtsp:// URL into a stream, reconnecting for as long as it runs.
package rtsp
