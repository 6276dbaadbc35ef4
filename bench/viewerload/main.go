// Command viewerload simulates viewers of a running Beffroi and checks its audience count.
//
//	go run ./bench/viewerload -url http://127.0.0.1:8080 -stream live -n 300 -waves 3
//
// It starts N simulated LL-HLS viewers in waves (each with the multivariant playlist, its
// session token, blocking playlist requests for both media playlists and every new part, and
// a beacon every -beacon seconds for half of them), holds them, then makes a wave leave and
// some reload. It reports the server's CPU and memory (from /proc/<pid> with -pid, else from
// its /metrics), request latency (p50/p99 by kind), how late blocking playlist answers come
// after the first viewer's answer for the same part, and the viewers the server counts against
// the truth the tool knows. WHEP viewers are not simulated: the tool says whether the server
// has a WHEP endpoint (POST /whep/<stream>) and leaves them out.
//
// See bench/README.md for the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/beffroi/beffroi/bench/hlscrowd"
)

type options struct {
	base, stream string
	n, waves     int
	waveEvery    time.Duration
	hold         time.Duration
	beacon       time.Duration
	mix          string
	pid          int
	part         time.Duration
	baseline     time.Duration
	poll         time.Duration
	token        string
	ownAddrs     bool
}

func main() { os.Exit(mainCode()) }

func mainCode() int {
	var o options
	fs := flag.NewFlagSet("viewerload", flag.ContinueOnError)
	fs.StringVar(&o.base, "url", "http://127.0.0.1:8080", "Beffroi's HTTP origin")
	fs.StringVar(&o.stream, "stream", "live", "the stream to watch")
	fs.StringVar(&o.token, "token", os.Getenv("BEFFROI_TOKEN"), "an operator API token, to read the server's count (default $BEFFROI_TOKEN)")
	fs.IntVar(&o.n, "n", 100, "simulated viewers")
	fs.IntVar(&o.waves, "waves", 4, "the viewers join in this many waves")
	fs.DurationVar(&o.waveEvery, "wave-every", 3*time.Second, "time between waves")
	fs.DurationVar(&o.hold, "hold", 20*time.Second, "measurement time once every viewer joined")
	fs.DurationVar(&o.beacon, "beacon", 10*time.Second, "beacon period (half the LL viewers, every CDN viewer)")
	fs.StringVar(&o.mix, "mix", "ll", "viewer kinds, cyclically: ll (LL-HLS player), poll (playlist every second), cdn (beacons only); e.g. ll,ll,cdn")
	fs.IntVar(&o.pid, "pid", 0, "the server's pid, for CPU and RSS from /proc (default: its /metrics)")
	fs.DurationVar(&o.poll, "poll", time.Second, "reload period of poll viewers")
	fs.DurationVar(&o.baseline, "baseline", 10*time.Second, "measure the server's CPU with no viewer this long first (subtracted from the per-request cost)")
	fs.BoolVar(&o.ownAddrs, "own-addresses", true, "each viewer dials from its own loopback address (127.1.x.y), as on the internet (the server limits tokens per address); a server on loopback only")
	fs.DurationVar(&o.part, "part", 200*time.Millisecond, "part duration: blocking answers later than this count as late")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "viewerload:", err)
		return 1
	}
	return 0
}

func parseMix(s string) ([]hlscrowd.Kind, error) {
	var mix []hlscrowd.Kind
	for _, k := range strings.Split(s, ",") {
		switch strings.TrimSpace(k) {
		case "ll":
			mix = append(mix, hlscrowd.KindLL)
		case "poll":
			mix = append(mix, hlscrowd.KindPoll)
		case "cdn":
			mix = append(mix, hlscrowd.KindCDN)
		default:
			return nil, fmt.Errorf("-mix: unknown kind %q (ll, poll or cdn)", k)
		}
	}
	return mix, nil
}

func run(ctx context.Context, o options) error {
	mix, err := parseMix(o.mix)
	if err != nil {
		return err
	}
	l := &hlscrowd.Load{Base: strings.TrimRight(o.base, "/"), Stream: o.stream, Mix: mix, BeaconEvery: o.beacon, PollEvery: o.poll, Token: o.token,
		OwnAddresses: o.ownAddrs && isLoopback(o.base)}
	c := hlscrowd.NewCrowd(l)
	defer c.Close()
	if resp, err := l.Client.Post(l.Base+"/whep/"+o.stream, "application/sdp", strings.NewReader("")); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			fmt.Println("WHEP: POST /whep/" + o.stream + " answers 404: no WHEP viewers")
		} else {
			fmt.Printf("WHEP: the endpoint exists (%s); this tool does not simulate WHEP viewers yet\n", resp.Status)
		}
	}
	// The server's own work with nobody watching (ingest, muxing): subtracted below.
	var idle float64 // fraction of a core
	if o.baseline > 0 {
		b0, err := serverUsage(ctx, l.Client, l.Base, o.pid)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := hlscrowd.Sleep(ctx, o.baseline); err != nil {
			return err
		}
		b1, err := serverUsage(ctx, l.Client, l.Base, o.pid)
		if err != nil {
			return err
		}
		idle = (b1.cpu - b0.cpu).Seconds() / time.Since(t0).Seconds()
		fmt.Printf("baseline, no viewer: server CPU %.1f%% of a core, RSS %.1f MiB\n", 100*idle, float64(b1.rss)/(1<<20))
	}
	per := (o.n + o.waves - 1) / o.waves
	for w := 0; w < o.waves; w++ {
		k := min(per, o.n-c.Active())
		if err := c.Join(ctx, k); err != nil {
			return fmt.Errorf("wave %d: %w", w+1, err)
		}
		now, _, _ := l.Counted(ctx)
		fmt.Printf("wave %d: %d viewers (truth), server counts %d\n", w+1, c.Active(), now["total"])
		if w < o.waves-1 {
			if err := hlscrowd.Sleep(ctx, o.waveEvery); err != nil {
				return err
			}
		}
	}
	c.Stats.Reset()
	u0, err := serverUsage(ctx, l.Client, l.Base, o.pid)
	if err != nil {
		return err
	}
	start := time.Now()
	var worst float64
	for time.Since(start) < o.hold {
		if err := hlscrowd.Sleep(ctx, time.Second); err != nil {
			return err
		}
		now, _, err := l.Counted(ctx)
		if err != nil {
			return err
		}
		truth := c.Active()
		dev := float64(now["total"]-truth) / float64(max(truth, 1))
		worst = max(worst, abs(dev))
		fmt.Printf("  t=%2.0fs truth %d counted %d (hls %d) %+.2f%%\n", time.Since(start).Seconds(), truth, now["total"], now["hls"], dev*100)
	}
	u1, err := serverUsage(ctx, l.Client, l.Base, o.pid)
	if err != nil {
		return err
	}
	el := time.Since(start)
	reqs, bytes := c.Stats.Requests()
	cpu := u1.cpu - u0.cpu
	extra := max(cpu.Seconds()-idle*el.Seconds(), 0)
	fmt.Printf("\n%d viewers for %.0f s: server CPU %.1f%% of a core (%.1f%% above the baseline), %.1f us per request above the baseline (%d requests, %.0f req/s), RSS %.1f MiB, %.1f Mbit/s out\n",
		c.Active(), el.Seconds(), 100*cpu.Seconds()/el.Seconds(), 100*extra/el.Seconds(), extra*1e6/float64(max(reqs, 1)),
		reqs, float64(reqs)/el.Seconds(), float64(u1.rss)/(1<<20), float64(bytes)*8/el.Seconds()/1e6)
	for _, k := range []string{"blocking", "playlist", "part", "beacon", "late"} {
		p50, p99, n := c.Stats.Percentiles(k)
		if n > 0 {
			fmt.Printf("  %-9s n=%-7d p50 %6.1f ms  p99 %6.1f ms\n", k, n, ms(p50), ms(p99))
		}
	}
	fmt.Printf("  blocking answers later than one part (%s) after the first viewer's: %.2f%%\n", o.part, 100*c.Stats.LateBeyond(o.part))
	if e := c.Stats.Errors(); len(e) > 0 {
		fmt.Printf("  errors: %v\n", e)
	}
	fmt.Printf("  counted vs truth at steady state: worst deviation %.2f%%\n", worst*100)

	// Leavers and reloads.
	leave := c.Active() / 4
	c.Reload(c.Active() / 10)
	c.Leave(leave)
	t0 := time.Now()
	for {
		now, distinct, err := l.Counted(ctx)
		if err != nil {
			return err
		}
		if now["total"] <= c.Active() || time.Since(t0) > time.Minute {
			fmt.Printf("%d viewers left: counted %d (truth %d) after %.1f s; distinct %d (tokens used %d)\n",
				leave, now["total"], c.Active(), time.Since(t0).Seconds(), distinct, c.Distinct())
			break
		}
		if err := hlscrowd.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// isLoopback reports whether the origin's host is a loopback address.
func isLoopback(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
