// Package netnstest builds, for end-to-end tests, a phone on a bad network: a network
// namespace of its own (the phone, where the test runs the publisher with Command) joined to
// the host by a point-to-point link whose loss, delay and jitter the test sets and changes
// while it runs, as tc netem would, and which the test can cut and restore.
//
// The link is emulated in the test process over two TUN devices, one in the phone's
// namespace and one on the host: the kernels the tests run on do not all have sch_netem
// (CONFIG_NET_SCH_NETEM), and a userspace link behaves the same everywhere. Each direction
// drops packets at random with the loss probability and delays the others by delay ± jitter
// (uniformly), which reorders them as netem does with jitter.
//
// It needs root, iproute2's ip and /dev/net/tun; New skips the test when one is missing, and
// fails it instead under BEFFROI_E2E=require. Everything it makes is removed when the test
// ends. Only _test.go files import it.
package netnstest
