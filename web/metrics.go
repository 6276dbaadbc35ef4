package web

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
)

// collector reads a snapshot of every stream and destination at each scrape, so the media
// path never touches Prometheus.
type collector struct {
	reg   *relay.Registry
	dests Destinations
}

var (
	descLive = prometheus.NewDesc("beffroi_stream_live",
		"1 when the stream has a live session (publisher connected or within the reconnect grace).", []string{"stream"}, nil)
	descPublisher = prometheus.NewDesc("beffroi_stream_publisher_connected",
		"1 when a publisher is connected.", []string{"stream"}, nil)
	descReaders = prometheus.NewDesc("beffroi_stream_readers",
		"Readers attached to the stream (destinations and players).", []string{"stream"}, nil)
	descIngestBitrate = prometheus.NewDesc("beffroi_stream_ingest_bitrate_bits",
		"Incoming bitrate over the last second, bits per second.", []string{"stream", "kind", "codec"}, nil)
	descIngestFrames = prometheus.NewDesc("beffroi_stream_ingest_frames_total",
		"Frames received in the current session.", []string{"stream", "kind", "codec"}, nil)
	descIngestBytes = prometheus.NewDesc("beffroi_stream_ingest_bytes_total",
		"Payload bytes received in the current session.", []string{"stream", "kind", "codec"}, nil)
	descDestState = prometheus.NewDesc("beffroi_destination_state",
		"1 for the destination's current state.", []string{"stream", "destination", "state"}, nil)
	descDestBytes = prometheus.NewDesc("beffroi_destination_bytes_total",
		"Bytes sent to the destination.", []string{"stream", "destination"}, nil)
	descDestFrames = prometheus.NewDesc("beffroi_destination_frames_total",
		"Frames sent to the destination.", []string{"stream", "destination"}, nil)
	descDestSkipped = prometheus.NewDesc("beffroi_destination_frames_skipped_total",
		"Frames skipped because the destination fell behind.", []string{"stream", "destination"}, nil)
	descDestReconnects = prometheus.NewDesc("beffroi_destination_reconnects_total",
		"Failed attempts followed by a reconnect.", []string{"stream", "destination"}, nil)
	descDestBitrate = prometheus.NewDesc("beffroi_destination_bitrate_bits",
		"Outgoing bitrate over the last second, bits per second.", []string{"stream", "destination"}, nil)
)

var allStates = []outputs.State{
	outputs.StateIdle, outputs.StateDisabled, outputs.StateConnecting, outputs.StateLive, outputs.StateRetrying,
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLive, descPublisher, descReaders, descIngestBitrate,
		descIngestFrames, descIngestBytes, descDestState, descDestBytes, descDestFrames,
		descDestSkipped, descDestReconnects, descDestBitrate} {
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
	for _, st := range c.reg.List() {
		in := st.Info()
		n := in.Name
		ch <- prometheus.MustNewConstMetric(descLive, prometheus.GaugeValue, b2f(in.State != relay.Idle), n)
		ch <- prometheus.MustNewConstMetric(descPublisher, prometheus.GaugeValue, b2f(in.State == relay.Live), n)
		ch <- prometheus.MustNewConstMetric(descReaders, prometheus.GaugeValue, float64(in.Readers), n)
		for _, t := range in.Tracks {
			ch <- prometheus.MustNewConstMetric(descIngestBitrate, prometheus.GaugeValue, t.Bitrate, n, t.Kind, string(t.Codec))
			ch <- prometheus.MustNewConstMetric(descIngestFrames, prometheus.CounterValue, float64(t.Frames), n, t.Kind, string(t.Codec))
			ch <- prometheus.MustNewConstMetric(descIngestBytes, prometheus.CounterValue, float64(t.Bytes), n, t.Kind, string(t.Codec))
		}
		if c.dests == nil {
			continue
		}
		for _, d := range c.dests.List(n) {
			for _, s := range allStates {
				ch <- prometheus.MustNewConstMetric(descDestState, prometheus.GaugeValue, b2f(d.State == s), n, d.Name, string(s))
			}
			ch <- prometheus.MustNewConstMetric(descDestBytes, prometheus.CounterValue, float64(d.Bytes), n, d.Name)
			ch <- prometheus.MustNewConstMetric(descDestFrames, prometheus.CounterValue, float64(d.Frames), n, d.Name)
			ch <- prometheus.MustNewConstMetric(descDestSkipped, prometheus.CounterValue, float64(d.Skipped), n, d.Name)
			ch <- prometheus.MustNewConstMetric(descDestReconnects, prometheus.CounterValue, float64(d.Reconnects), n, d.Name)
			ch <- prometheus.MustNewConstMetric(descDestBitrate, prometheus.GaugeValue, d.Bitrate, n, d.Name)
		}
	}
}
