// Package console serves the operator console: one page application, in plain HTML, CSS and
// ES modules embedded in the binary (no build step, nothing from outside), that drives the
// operator API and follows the live updates of /api/v1/events.
package console
