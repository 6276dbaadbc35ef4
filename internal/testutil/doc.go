// Package testutil holds what the tests of several packages need alike: polling with a
// deadline, a log buffer safe for concurrent writers, real H.264 and AAC parameter sets, a
// self-signed TLS certificate and goroutine-leak checks. Only _test.go files import it, and it
// imports no package of this module, so that internal tests (package relay) can use it.
package testutil
