package benchkit

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis, as /proc allows.
	line := []byte("1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 75 3 4 20 0 8 0 100 1000 200 18446744073709551615")
	got, err := ParseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CPUTimes{User: 2500 * time.Millisecond, Sys: 750 * time.Millisecond}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got, err := statTimes(line, 13); err != nil || got != (CPUTimes{User: 30 * time.Millisecond, Sys: 40 * time.Millisecond}) {
		t.Fatalf("children's times %+v, %v; want 30ms and 40ms", got, err)
	}
	if _, err := ParseStatCPU([]byte("1234 no parenthesis")); err == nil {
		t.Fatal("a line without the command's parentheses was read")
	}
}

func TestOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	if _, err := ProcCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := ProcRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	if _, err := ReapedChildrenCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	m, err := MachineCPU()
	if err != nil || m.Total <= 0 || m.Busy > m.Total {
		t.Fatalf("machine %+v, %v", m, err)
	}
}
