package app

import (
	"context"
	"sync"

	ingestrtmp "github.com/beffroi/beffroi/ingest/rtmp"
	outhls "github.com/beffroi/beffroi/outputs/hls"
	"github.com/beffroi/beffroi/relay/audience"
)

// newViewers makes the audience counter and the HLS output (before the HTTP API, which
// serves them).
func (a *App) newViewers() {
	cfg := a.cfg
	a.Audience = audience.New(audience.Options{Window: cfg.Audience.Window, BeaconWindow: cfg.Audience.BeaconWindow})
	for _, s := range a.ingest {
		if r, ok := s.server.(*ingestrtmp.Server); ok {
			r.Viewers = a.Audience // RTMP players (rtmp.read) are viewers
		}
	}
	if cfg.HLS.Enabled {
		a.HLS = outhls.New(a.Registry, a.Renditions, a.Audience, outhls.Options{
			PartDuration: cfg.HLS.PartDuration, SegmentDuration: cfg.HLS.SegmentDuration,
			AllowOrigins: cfg.HLS.AllowOrigins, MaxLag: cfg.Outputs.MaxLag,
		}, a.log)
	}
}

// runViewers runs the counter and the HLS output with the outputs: they stop after ingest
// (shutdown's order).
func (a *App) runViewers(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { _ = a.Audience.Run(ctx, a.Registry) })
	if a.HLS != nil {
		wg.Go(func() { _ = a.HLS.Run(ctx) })
	}
}
