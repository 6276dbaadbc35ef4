package main

import (
	"bufio"
	"context"
	"encoding/json"
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

// counted reads the audience the server counts now: total and by protocol, and distinct.
func counted(ctx context.Context, l *Load, stream string) (map[string]int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Base+"/api/v1/streams/"+stream+"/audience", nil)
	if err != nil {
		return nil, 0, err
	}
	if l.Token != "" {
		req.Header.Set("Authorization", "Bearer "+l.Token)
	}
	client := l.Client
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("audience: %s", resp.Status)
	}
	var a struct {
		Now      map[string]int `json:"now"`
		Distinct int            `json:"distinct"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, 0, err
	}
	return a.Now, a.Distinct, nil
}
