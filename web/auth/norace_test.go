//go:build !race

package auth_test

// raceEnabled: the race detector is off, so the process's RSS is a fair measure.
const raceEnabled = false
