package main

import (
	"bytes"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beffroi/beffroi/bench/internal/benchkit"
)

// medianRSS samples the RSS of pid count times, every, and returns the median.
func medianRSS(pid, count int, every time.Duration) int64 {
	s := make([]int64, 0, count)
	for i := range count {
		if i > 0 {
			time.Sleep(every)
		}
		if v, err := benchkit.ProcRSS(pid); err == nil {
			s = append(s, v)
		}
	}
	return median(s)
}

func median(s []int64) int64 {
	if len(s) == 0 {
		return 0
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return s[len(s)/2]
}

// percentile returns the p-th percentile (nearest rank) of sorted values.
func percentile(sorted []int32, p float64) int32 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// result is one row of the table: one server, one mode, one reader count.
type result struct {
	server, mode string
	readers      int // asked for
	attached     int // readers that received media
	window       time.Duration

	cpu       time.Duration // server CPU over the window
	toolCPU   time.Duration // the load tool's own CPU over the window
	busy      float64       // machine busy fraction over the window, all CPUs
	other     float64       // CPU of other processes over the window, in CPUs
	otherName string        // the busiest of them
	attempts  int
	inProcess bool // cpu includes the tool

	rssBase, rssLoaded int64 // KiB
	bytes              uint64

	p50, p99, max int32 // µs
	samples       int

	expected int     // stamped video frames the publisher sent inside the window
	minFrac  float64 // lowest received/expected over readers
	meanFrac float64
	under95  int // readers that got less than 95% of the frames
	note     string
	err      error
	profile  string // where a CPU profile was written
}

// cpuPerReaderSecond returns the server CPU per reader-second in milliseconds.
func (r *result) cpuPerReaderSecond() float64 {
	if r.attached == 0 || r.window <= 0 {
		return 0
	}
	return float64(r.cpu) / float64(time.Millisecond) / (float64(r.attached) * r.window.Seconds())
}

// summarise fills the latency and frame figures from the readers' measurements.
func (r *result) summarise(recvs []*recv) {
	n := 0
	for _, rv := range recvs {
		n += len(rv.lat)
	}
	all := make([]int32, 0, n)
	sum := 0.0
	r.minFrac = 1
	counted := 0
	for _, rv := range recvs {
		all = append(all, rv.lat...)
		if r.expected == 0 {
			continue
		}
		f := float64(rv.inWindow) / float64(r.expected)
		sum += f
		counted++
		r.minFrac = min(r.minFrac, f)
		if f < 0.95 {
			r.under95++
		}
	}
	if counted > 0 {
		r.meanFrac = sum / float64(counted)
	} else {
		r.minFrac = 0
	}
	slices.Sort(all)
	r.samples = len(all)
	r.p50, r.p99 = percentile(all, 50), percentile(all, 99)
	if len(all) > 0 {
		r.max = all[len(all)-1]
	}
}

// procTable is the CPU time of every process at one moment, children that exited and were
// reaped included (cutime, cstime), keyed by pid; comm names them.
type procTable struct {
	cpu  map[int]time.Duration
	comm map[int]string
}

// readProcTable reads /proc/<pid>/stat of every user process but the load tool and its
// children (the servers under test, perf). Kernel threads are left out: they do the loopback
// traffic's softirq work, which is part of the load measured.

func readProcTable() procTable {
	self := os.Getpid()
	t := procTable{cpu: map[int]time.Duration{}, comm: map[int]string{}}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return t
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(string(b[j+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if pid == 2 || ppid == 2 || pid == self || ppid == self {
			continue
		}
		var sum int64
		for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			sum += v
		}
		t.cpu[pid] = time.Duration(sum) * benchkit.ClockTick
		t.comm[pid] = string(b[i+1 : j])
	}
	return t
}

// otherCPU returns the CPU time the processes of the tables used between them, and the
// busiest of them. Children reaped in between bring their whole CPU time (cutime) into their
// parent's; so that such a long-lived child does not read as a load beyond the machine, the
// total is capped at every CPU busy for elapsed.
func otherCPU(t0, t1 procTable, elapsed time.Duration) (time.Duration, string) {
	var total, top time.Duration
	var name string
	for pid, c1 := range t1.cpu {
		d := c1 - t0.cpu[pid] // a process started during the window counts whole
		if d <= 0 {
			continue
		}
		total += d
		if d > top {
			top, name = d, t1.comm[pid]
		}
	}
	return min(total, elapsed*time.Duration(runtime.NumCPU())), name
}
