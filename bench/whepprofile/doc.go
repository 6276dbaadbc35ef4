// Package whepprofile is a profiling harness for WHEP playback: BenchmarkViewers plays one
// synthetic H.264 + Opus stream to in-process pion viewers, for go test -cpuprofile. It
// holds no code outside its benchmark.
package whepprofile
