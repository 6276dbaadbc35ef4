// Package srt is Beffroi's SRT listener: hardware encoders, phone apps and ffmpeg publish
// MPEG-TS to srt://host:8890?streamid=publish:<stream>:<publishKey> (or the SRT access-control
// form #!::r=<stream>,m=publish,s=<publishKey>), and each accepted connection becomes the
// stream's relay publisher. Reading over SRT is not supported yet.
package srt
