// Package benchkit holds what the load tools under bench/ share: the processes they start
// (Beffroi's binary built from this module, nginx with the RTMP module as a platform or a
// rival server), free loopback ports, and the CPU and memory a process uses, read from /proc.
// It is for measurement tools only: nothing in the product imports it.
package benchkit
