// Package report makes an event's report out of its audience figures: the model the API
// serves as JSON, its CSV export, the chart of concurrent viewers by source and platform
// (SVG made here, no script), and the printable page in French or English that the
// communication team sends on.
package report
