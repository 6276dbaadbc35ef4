package app

import (
	"context"
	"net/http"
	"time"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/relay/audience"
)

// platformHTTPTimeout bounds one request to a platform's API (the poller bounds it too).
const platformHTTPTimeout = 15 * time.Second

// newPlatformPoller makes the platform viewer-count poller (audience.platforms) and gives
// it the credentials kept in the database. It polls a destination only while it is live.
func (a *App) newPlatformPoller() (*platforms.Poller, error) {
	pc := a.cfg.Audience.Platforms
	p := platforms.New(platforms.Options{
		Client: &platforms.Client{HTTP: &http.Client{Timeout: platformHTTPTimeout},
			Endpoints: platforms.Endpoints{YouTube: pc.YouTubeURL, Twitch: pc.TwitchURL, Facebook: pc.FacebookURL}},
		Every:  pc.PollEvery,
		Live:   a.destinationLive,
		Logger: a.log,
	})
	targets, err := a.Store.PlatformTargets(context.Background())
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		p.Set(t)
	}
	return p, nil
}

// destinationLive reports whether stream's destination dest is live on its platform.
func (a *App) destinationLive(stream, dest string) bool {
	for _, d := range a.Outputs.List(stream) {
		if d.Name == dest {
			return d.State == outputs.StateLive
		}
	}
	return false
}

// outputFigures gives the audience the destinations' figures, for each event's report.
type outputFigures struct{ m *outputs.Manager }

func (o outputFigures) OutputFigures(stream string) []audience.Output {
	list := o.m.List(stream)
	out := make([]audience.Output, 0, len(list))
	for _, d := range list {
		out = append(out, audience.Output{Name: d.Name, Protocol: d.Protocol, Host: d.Host, State: string(d.State),
			Uptime: d.Uptime, Reconnects: d.Reconnects})
	}
	return out
}
