// Command edgeload measures a Beffroi origin behind two caching edges made from the shipped
// configurations (deploy/edges: one nginx proxy_cache, one Varnish, each started here on a
// loopback port), with simulated LL-HLS viewers split across them:
//
//	go run ./bench/edgeload -url http://127.0.0.1:8080 -stream live -token $BEFFROI_TOKEN -n 50,100,250,500
//
// For each crowd size it starts the viewers (bench/hlscrowd: both media playlists with
// blocking requests, every part, a beacon every -beacon as the watch page sends), waits until
// the count settles, then measures for -hold: the requests the edges send to the origin per
// second (nginx's access log, Varnish's backend_req), the share of parts and blocking playlist
// answers each edge served from its cache, and the viewers the origin counts against the
// truth. The origin must list 127.0.0.1 in http.trusted_proxies (the edges run there), or
// every viewer is the edges' address. See bench/README.md for the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/beffroi/beffroi/bench/hlscrowd"
	"github.com/beffroi/beffroi/deploy/edges"
)

type options struct {
	base, stream, token string
	sizes               []int
	hold, beacon        time.Duration
	dir                 string
}

func main() { os.Exit(mainCode()) }

func mainCode() int {
	var o options
	var sizes string
	fs := flag.NewFlagSet("edgeload", flag.ContinueOnError)
	fs.StringVar(&o.base, "url", "http://127.0.0.1:8080", "the Beffroi origin (on this machine: the edges run on loopback)")
	fs.StringVar(&o.stream, "stream", "live", "the stream to watch")
	fs.StringVar(&o.token, "token", os.Getenv("BEFFROI_TOKEN"), "an operator API token, to read the origin's count (default $BEFFROI_TOKEN)")
	fs.StringVar(&sizes, "n", "50,100,250,500", "crowd sizes, one measurement each")
	fs.DurationVar(&o.hold, "hold", 20*time.Second, "measurement time at each size")
	fs.DurationVar(&o.beacon, "beacon", 5*time.Second, "beacon period of each viewer")
	fs.StringVar(&o.dir, "dir", "", "the edges' directories (default: a temporary directory, removed at the end)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "edgeload: -n: %q is not a crowd size (2 or more)\n", s)
			return 2
		}
		o.sizes = append(o.sizes, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "edgeload:", err)
		return 1
	}
	return 0
}

// result is one crowd size's measurement.
type result struct {
	n                 int
	originPerSec      float64            // the edges' fetches (playlists, parts, segments): what collapsing keeps flat
	passPerSec        float64            // what they pass through (beacons): one per viewer's request
	partHit, blockHit map[string]float64 // by edge kind
	worst             float64            // the count's worst deviation from the truth
	perSecond         float64            // the viewers' requests per second through the edges
}

func run(ctx context.Context, o options) error {
	if missing := edges.Available(); len(missing) > 0 {
		return fmt.Errorf("missing %s (apt-get install nginx varnish)", strings.Join(missing, ", "))
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "edgeload-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(d) }()
		dir = d
	}
	origin := strings.TrimPrefix(strings.TrimRight(o.base, "/"), "http://")
	var list []*edges.Edge
	for _, kind := range []string{edges.Nginx, edges.Varnish} {
		e, err := edges.Start(ctx, kind, origin, dir+"/"+kind)
		if err != nil {
			return err
		}
		defer e.Stop()
		fmt.Printf("%s edge: %s\n", kind, e.URL)
		list = append(list, e)
	}
	// One crowd that grows from size to size: viewers that left would still be counted for
	// the beacon window, so none leaves.
	l := &hlscrowd.Load{Base: strings.TrimRight(o.base, "/"), Stream: o.stream, Token: o.token, BeaconEvery: o.beacon,
		OwnAddresses: true}
	for _, e := range list {
		l.Edges = append(l.Edges, e.URL)
	}
	c := hlscrowd.NewCrowd(l)
	defer c.Close()
	var results []result
	for _, n := range o.sizes {
		r, err := measure(ctx, o, l, c, list, n)
		if err != nil {
			return fmt.Errorf("%d viewers: %w", n, err)
		}
		results = append(results, r)
	}
	fmt.Printf("\n| viewers | viewers' req/s (edges) | origin fetches/s | origin passes/s (beacons) | parts from cache (nginx / varnish) | blocking playlists from cache (nginx / varnish) | count, worst deviation |\n|---|---|---|---|---|---|---|\n")
	lo, hi := results[0].originPerSec, results[0].originPerSec
	for _, r := range results {
		lo, hi = min(lo, r.originPerSec), max(hi, r.originPerSec)
		fmt.Printf("| %d | %.0f | %.1f | %.1f | %.1f %% / %.1f %% | %.1f %% / %.1f %% | %.2f %% |\n", r.n, r.perSecond, r.originPerSec, r.passPerSec,
			100*r.partHit[edges.Nginx], 100*r.partHit[edges.Varnish], 100*r.blockHit[edges.Nginx], 100*r.blockHit[edges.Varnish], 100*r.worst)
	}
	fmt.Printf("\norigin fetches per second from %d to %d viewers: %.1f to %.1f (the highest %.0f %% above the lowest)\n",
		results[0].n, results[len(results)-1].n, lo, hi, 100*(hi-lo)/max(lo, 1e-9))
	return nil
}

// measure grows the crowd to n viewers across the edges and measures them.
func measure(ctx context.Context, o options, l *hlscrowd.Load, c *hlscrowd.Crowd, list []*edges.Edge, n int) (result, error) {
	// Waves of at most 50 viewers, 0.5 s apart, as a crowd arrives.
	for c.Active() < n {
		if err := c.Join(ctx, min(50, n-c.Active())); err != nil {
			return result{}, err
		}
		if err := hlscrowd.Sleep(ctx, 500*time.Millisecond); err != nil {
			return result{}, err
		}
	}
	// Every viewer has beaconed once the period is over.
	settle := time.Now().Add(o.beacon + 5*time.Second)
	for {
		now, _, err := l.Counted(ctx)
		if err != nil {
			return result{}, err
		}
		if now["total"] == c.Active() || time.Now().After(settle) {
			fmt.Printf("%d viewers: counted %d\n", c.Active(), now["total"])
			break
		}
		if err := hlscrowd.Sleep(ctx, 500*time.Millisecond); err != nil {
			return result{}, err
		}
	}
	c.Stats.Reset()
	o0, err := originRequests(ctx, list)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	r := result{n: n, partHit: map[string]float64{}, blockHit: map[string]float64{}}
	for time.Since(start) < o.hold {
		if err := hlscrowd.Sleep(ctx, time.Second); err != nil {
			return result{}, err
		}
		now, _, err := l.Counted(ctx)
		if err != nil {
			return result{}, err
		}
		truth := c.Active()
		dev := float64(now["total"]-truth) / float64(max(truth, 1))
		r.worst = max(r.worst, dev, -dev)
	}
	o1, err := originRequests(ctx, list)
	if err != nil {
		return result{}, err
	}
	el := time.Since(start).Seconds()
	r.originPerSec = float64(o1.Fetches-o0.Fetches) / el
	r.passPerSec = float64(o1.Passes-o0.Passes) / el
	reqs, _ := c.Stats.Requests()
	r.perSecond = float64(reqs) / el
	for _, e := range list {
		h, t := c.Stats.Cache("part " + e.URL)
		r.partHit[e.Kind] = float64(h) / float64(max(t, 1))
		h, t = c.Stats.Cache("blocking " + e.URL)
		r.blockHit[e.Kind] = float64(h) / float64(max(t, 1))
	}
	fmt.Printf("  %d viewers for %.0f s: %.0f req/s through the edges; to the origin %.1f fetches/s and %.1f passes/s (beacons); parts from cache nginx %.1f %%, varnish %.1f %%; count within %.2f %%\n",
		n, el, r.perSecond, r.originPerSec, r.passPerSec, 100*r.partHit[edges.Nginx], 100*r.partHit[edges.Varnish], 100*r.worst)
	if e := c.Stats.Errors(); len(e) > 0 {
		fmt.Printf("  player errors: %v\n", e)
	}
	return r, nil
}

func originRequests(ctx context.Context, list []*edges.Edge) (edges.Origin, error) {
	var sum edges.Origin
	for _, e := range list {
		o, err := e.OriginRequests(ctx)
		if err != nil {
			return sum, fmt.Errorf("%s: %w", e.Kind, err)
		}
		sum.Fetches += o.Fetches
		sum.Passes += o.Passes
	}
	return sum, nil
}
