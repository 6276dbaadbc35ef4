package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTick is the unit of /proc/<pid>/stat CPU times (USER_HZ, 100 on Linux).
const ClockTick = 10 * time.Millisecond

// CPUTimes is the CPU time a process used, its threads (live and exited) included.
type CPUTimes struct{ User, Sys time.Duration }

// Total is user plus system time.
func (c CPUTimes) Total() time.Duration { return c.User + c.Sys }

// Sub is the time used between o and c.
func (c CPUTimes) Sub(o CPUTimes) CPUTimes { return CPUTimes{c.User - o.User, c.Sys - o.Sys} }

// ProcCPU returns the CPU time of a process from /proc/<pid>/stat.
func ProcCPU(pid int) (CPUTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPUTimes{}, err
	}
	return ParseStatCPU(b)
}

// ParseStatCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The
// command name, field 2, is in parentheses and may hold spaces and parentheses.
func ParseStatCPU(b []byte) (CPUTimes, error) { return statTimes(b, 11) }

// statTimes reads the two clock-tick fields at index i and i+1 of a stat line's fields from
// field 3 on (f[0] is field 3, the state: utime, field 14, is f[11]).
func statTimes(b []byte, i int) (CPUTimes, error) {
	f, ok := statFields(b)
	if !ok || len(f) < i+2 {
		return CPUTimes{}, fmt.Errorf("malformed stat line")
	}
	u, err1 := strconv.ParseInt(f[i], 10, 64)
	s, err2 := strconv.ParseInt(f[i+1], 10, 64)
	if err1 != nil || err2 != nil {
		return CPUTimes{}, fmt.Errorf("malformed stat line")
	}
	return CPUTimes{time.Duration(u) * ClockTick, time.Duration(s) * ClockTick}, nil
}

// statFields returns the fields of a stat line after the command name, from field 3 on.
func statFields(b []byte) ([]string, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

// ReapedChildrenCPU returns the CPU time of the children a process waited for (cutime and
// cstime, fields 16 and 17 of /proc/<pid>/stat): encoders that ran and ended.
func ReapedChildrenCPU(pid int) (CPUTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPUTimes{}, err
	}
	return statTimes(b, 13)
}

// ProcRSS returns the resident set size of a process in KiB (VmRSS).
func ProcRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// MachineTimes is the CPU time of the whole machine, all CPUs together.
type MachineTimes struct{ Busy, Total time.Duration }

// MachineCPU reads the first line of /proc/stat (user nice system idle iowait irq softirq
// steal ...): idle and iowait are not busy.
func MachineCPU() (MachineTimes, error) {
	var m MachineTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return m, fmt.Errorf("malformed /proc/stat")
	}
	for i := 1; i <= 8; i++ {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return m, fmt.Errorf("malformed /proc/stat")
		}
		d := time.Duration(v) * ClockTick
		m.Total += d
		if i != 4 && i != 5 {
			m.Busy += d
		}
	}
	return m, nil
}

// ChildrenCPU returns the CPU time of the live processes whose parent is pid (ffmpeg
// encoders a server started, say), by pid, with their command names.
func ChildrenCPU(pid int) (map[int]CPUTimes, map[int]string) {
	cpu, comm := map[int]CPUTimes{}, map[int]string{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return cpu, comm
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f, ok := statFields(b)
		if !ok || len(f) < 13 || f[1] != strconv.Itoa(pid) {
			continue
		}
		c, err := ParseStatCPU(b)
		if err != nil {
			continue
		}
		cpu[child] = c
		if i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')'); i >= 0 && j > i {
			comm[child] = string(b[i+1 : j])
		}
	}
	return cpu, comm
}
