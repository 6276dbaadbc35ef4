package web

import (
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
)

// collector reads a snapshot of every stream and destination at each scrape, so the media
// path never touches Prometheus.
type collector struct {
	reg   *relay.Registry
	dests Destinations

	live, publisher, readers, ingestBitrate, ingestFrames, ingestBytes         *prometheus.Desc
	destState, destBytes, destFrames, destSkipped, destReconnects, destBitrate *prometheus.Desc
}

func newCollector(reg *relay.Registry, dests Destinations) *collector {
	return &collector{
		reg: reg, dests: dests,
		live: prometheus.NewDesc("beffroi_stream_live",
			"1 when the stream has a live session (publisher connected or within the reconnect grace).", []string{"stream"}, nil),
		publisher: prometheus.NewDesc("beffroi_stream_publisher_connected",
			"1 when a publisher is connected.", []string{"stream"}, nil),
		readers: prometheus.NewDesc("beffroi_stream_readers",
			"Readers attached to the stream (destinations and players).", []string{"stream"}, nil),
		ingestBitrate: prometheus.NewDesc("beffroi_stream_ingest_bitrate_bits",
			"Incoming bitrate over the last second, bits per second.", []string{"stream", "kind", "codec"}, nil),
		ingestFrames: prometheus.NewDesc("beffroi_stream_ingest_frames_total",
			"Frames received in the current session.", []string{"stream", "kind", "codec"}, nil),
		ingestBytes: prometheus.NewDesc("beffroi_stream_ingest_bytes_total",
			"Payload bytes received in the current session.", []string{"stream", "kind", "codec"}, nil),
		destState: prometheus.NewDesc("beffroi_destination_state",
			"1 for the destination's current state.", []string{"stream", "destination", "state"}, nil),
		destBytes: prometheus.NewDesc("beffroi_destination_bytes_total",
			"Bytes sent to the destination.", []string{"stream", "destination"}, nil),
		destFrames: prometheus.NewDesc("beffroi_destination_frames_total",
			"Frames sent to the destination.", []string{"stream", "destination"}, nil),
		destSkipped: prometheus.NewDesc("beffroi_destination_frames_skipped_total",
			"Frames skipped because the destination fell behind.", []string{"stream", "destination"}, nil),
		destReconnects: prometheus.NewDesc("beffroi_destination_reconnects_total",
			"Failed attempts followed by a reconnect.", []string{"stream", "destination"}, nil),
		destBitrate: prometheus.NewDesc("beffroi_destination_bitrate_bits",
			"Outgoing bitrate over the last second, bits per second.", []string{"stream", "destination"}, nil),
	}
}

// destinationStates are the states a destination's beffroi_destination_state is told for.
func destinationStates() []outputs.State {
	return []outputs.State{outputs.StateIdle, outputs.StateDisabled, outputs.StateConnecting, outputs.StateLive, outputs.StateRetrying}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.live, c.publisher, c.readers, c.ingestBitrate,
		c.ingestFrames, c.ingestBytes, c.destState, c.destBytes, c.destFrames,
		c.destSkipped, c.destReconnects, c.destBitrate} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	states := destinationStates()
	for _, st := range c.reg.List() {
		in := st.Info()
		n := in.Name
		ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, b2f(in.State != relay.Idle), n)
		ch <- prometheus.MustNewConstMetric(c.publisher, prometheus.GaugeValue, b2f(in.State == relay.Live), n)
		ch <- prometheus.MustNewConstMetric(c.readers, prometheus.GaugeValue, float64(in.Readers), n)
		for _, t := range in.Tracks {
			ch <- prometheus.MustNewConstMetric(c.ingestBitrate, prometheus.GaugeValue, t.Bitrate, n, t.Kind, string(t.Codec))
			ch <- prometheus.MustNewConstMetric(c.ingestFrames, prometheus.CounterValue, float64(t.Frames), n, t.Kind, string(t.Codec))
			ch <- prometheus.MustNewConstMetric(c.ingestBytes, prometheus.CounterValue, float64(t.Bytes), n, t.Kind, string(t.Codec))
		}
		if c.dests == nil {
			continue
		}
		for _, d := range c.dests.List(n) {
			for _, s := range states {
				ch <- prometheus.MustNewConstMetric(c.destState, prometheus.GaugeValue, b2f(d.State == s), n, d.Name, string(s))
			}
			ch <- prometheus.MustNewConstMetric(c.destBytes, prometheus.CounterValue, float64(d.Bytes), n, d.Name)
			ch <- prometheus.MustNewConstMetric(c.destFrames, prometheus.CounterValue, float64(d.Frames), n, d.Name)
			ch <- prometheus.MustNewConstMetric(c.destSkipped, prometheus.CounterValue, float64(d.Skipped), n, d.Name)
			ch <- prometheus.MustNewConstMetric(c.destReconnects, prometheus.CounterValue, float64(d.Reconnects), n, d.Name)
			ch <- prometheus.MustNewConstMetric(c.destBitrate, prometheus.GaugeValue, d.Bitrate, n, d.Name)
		}
	}
}

// requireToken guards /metrics with a bearer token (metrics.token): a scraper sends
// "Authorization: Bearer <token>" (Prometheus: authorization.credentials). An empty token
// leaves it open. The comparison takes the same time whatever the guess.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "metrics: missing or wrong bearer token (metrics.token)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
