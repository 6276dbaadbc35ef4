//go:build race

package auth_test

// raceEnabled: the race detector is on, and its shadow memory inflates the process's RSS
// several times over, so memory bounds are checked on the Go heap alone.
const raceEnabled = true
