package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printTable writes the results as a Markdown table, then the warnings.
func printTable(w io.Writer, results []*result, maxOther float64) {
	fmt.Fprintln(w, "| server | mode | readers | CPU % of a core | CPU ms / reader-s | RSS base MiB | RSS / reader KiB | latency p50 ms | p99 ms | max ms | frames min / mean % | out MB/s | tool CPU % | other CPU % |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	var notes []string
	for _, r := range results {
		name := r.server
		if r.inProcess {
			name += " (in-process)"
		}
		if r.err != nil {
			first, _, _ := strings.Cut(r.err.Error(), "\n")
			fmt.Fprintf(w, "| %s | %s | %d | failed: %s ||||||||||\n", name, r.mode, r.readers, first)
			continue
		}
		secs := r.window.Seconds()
		readers := max(r.attached, 1)
		cpuPct := 100 * float64(r.cpu) / float64(r.window)
		fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.3f | %.1f | %.1f | %.2f | %.2f | %.1f | %.1f / %.1f | %.1f | %.0f | %.0f |\n",
			name, r.mode, r.attached, cpuPct, r.cpuPerReaderSecond(),
			float64(r.rssBase)/1024, float64(r.rssLoaded-r.rssBase)/float64(readers),
			ms(r.p50), ms(r.p99), ms(r.max),
			100*r.minFrac, 100*r.meanFrac,
			float64(r.bytes)/secs/1e6, 100*float64(r.toolCPU)/float64(r.window), 100*r.other)
		if r.inProcess {
			notes = append(notes, fmt.Sprintf("%s %s n=%d: in-process, the CPU columns include the load tool", r.server, r.mode, r.readers))
		}
		if r.attempts > 1 {
			notes = append(notes, fmt.Sprintf("%s %s n=%d: measured %d times (other processes), kept the least disturbed", r.server, r.mode, r.readers, r.attempts))
		}
		if r.other > maxOther {
			notes = append(notes, fmt.Sprintf("WARNING %s %s n=%d: other processes used %.2f CPUs during the window: figures skewed", r.server, r.mode, r.readers, r.other))
		}
		if r.note != "" {
			notes = append(notes, fmt.Sprintf("WARNING %s %s n=%d: %s", r.server, r.mode, r.readers, r.note))
		}
		if r.under95 > 0 {
			notes = append(notes, fmt.Sprintf("WARNING %s %s n=%d: %d reader(s) got less than 95%% of the %d frames sent in the window (lowest %.1f%%)",
				r.server, r.mode, r.readers, r.under95, r.expected, 100*r.minFrac))
		}
		if r.samples == 0 {
			notes = append(notes, fmt.Sprintf("WARNING %s %s n=%d: no latency sample", r.server, r.mode, r.readers))
		}
		if r.profile != "" {
			notes = append(notes, fmt.Sprintf("%s %s n=%d: CPU profile in %s", r.server, r.mode, r.readers, r.profile))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
}

func ms(us int32) float64 {
	return float64(time.Duration(us)*time.Microsecond) / float64(time.Millisecond)
}
