package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// usage is the server's CPU time and resident memory.
type usage struct {
	cpu time.Duration
	rss int64 // bytes
}

// serverUsage reads the server's CPU and RSS from /proc/<pid> when pid > 0, else from its
// /metrics (process_cpu_seconds_total, process_resident_memory_bytes).
func serverUsage(ctx context.Context, client *http.Client, base string, pid int) (usage, error) {
	if pid > 0 {
		return procUsage(pid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return usage{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return usage{}, err
	}
	defer resp.Body.Close()
	var u usage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			u.cpu = time.Duration(f * float64(time.Second))
		}
		if v, ok := strings.CutPrefix(line, "process_resident_memory_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			u.rss = int64(f)
		}
	}
	return u, sc.Err()
}

func procUsage(pid int) (usage, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 22 {
		return usage{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	rssPages, _ := strconv.ParseInt(f[21], 10, 64)
	return usage{cpu: time.Duration(ut+st) * 10 * time.Millisecond, rss: rssPages * int64(os.Getpagesize())}, nil
}
