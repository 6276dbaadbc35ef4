package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/ingest/netstats"
	ingestrtmp "github.com/beffroi/beffroi/ingest/rtmp"
	ingestrtsp "github.com/beffroi/beffroi/ingest/rtsp"
	ingestsrt "github.com/beffroi/beffroi/ingest/srt"
	ingestwhip "github.com/beffroi/beffroi/ingest/whip"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/outputs"
	outhls "github.com/beffroi/beffroi/outputs/hls"
	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/outputs/record/objstore"
	outrtmp "github.com/beffroi/beffroi/outputs/rtmp"
	outsrt "github.com/beffroi/beffroi/outputs/srt"
	outwhep "github.com/beffroi/beffroi/outputs/whep"
	outwhip "github.com/beffroi/beffroi/outputs/whip"
	"github.com/beffroi/beffroi/presets"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/relay/standby"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web"
	"github.com/beffroi/beffroi/web/auth"
	"github.com/beffroi/beffroi/web/clips"
	"github.com/beffroi/beffroi/web/console"
	"github.com/beffroi/beffroi/web/manage"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/store"
)

// NewLogger returns the logger the configuration asks for.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	o := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// App is a configured Beffroi: its streams, destinations and listeners, bound but not yet
// serving. cmd/beffroi runs one; end-to-end tests run several on port 0.
type App struct {
	cfg *config.Config // as started: what listeners, paths and tuning follow
	log *slog.Logger

	// reloadMu serialises reloads; applied is the configuration whose streams and
	// destinations are in force (cfg, then each reloaded one).
	reloadMu sync.Mutex
	applied  *config.Config
	// inForce is applied, for readers outside reloads (the HLS ladder of a stream).
	inForce atomic.Pointer[config.Config]
	source  func() (*config.Config, error)

	// Store is the embedded database (<data_dir>/beffroi.db): accounts, the streams and
	// destinations made in the console, the recordings catalogue. Opened first, closed last.
	Store *store.Store
	// Registry holds the streams.
	Registry *relay.Registry
	// Renditions makes the streams readers need when the source does not fit them.
	Renditions *transcode.Renditions
	// Outputs runs the destinations; add, remove, enable and disable them while live.
	Outputs *outputs.Manager
	// Recorder records every live session of the streams (outputs/record).
	Recorder *record.Recorder
	// Replays serves recordings and replays and sweeps old recordings away.
	Replays *replays.Service
	// Clips exports story clips from the recordings, in the background.
	Clips *clips.Service
	// Audience counts the viewers of every stream.
	Audience *audience.Counter
	// PlatformViewers reads the platforms' own viewer counts of the destinations given API
	// credentials (outputs/platforms), for the audience's total.
	PlatformViewers *platforms.Poller
	// HLS makes and serves every live stream's low-latency HLS (nil when hls.enabled is off).
	HLS *outhls.Server
	// WHEP plays the streams to viewers over WebRTC (/whep/<stream>).
	WHEP *outwhep.Server
	// Standby puts the standby picture into a stream while its source is away or paused (nil
	// when standby.enabled is off).
	Standby *standby.Service

	rtc    *rtcnet.Net // the one UDP port of every WebRTC peer
	ingest []ingestServer
	pulls  *pullSet
	whip   *ingestwhip.Server
	hln    net.Listener
	hsrv   *http.Server
	api    *web.Server
	// configured names the streams and destinations of the configuration file ("stream" and
	// "stream/destination"): read-only in the console.
	configured names
	// accounts are the users, sessions and tokens (logins, roles, the audit log).
	accounts *auth.Service
	health   health // what /healthz reports of the components (health.go)
	// objects is the bucket recordings are uploaded to (record.storage: s3), nil otherwise.
	objects *objstore.Bucket
	// https serves HTTPS and the redirect to it, with the tls section's certificate
	// (https.go); nil without one.
	https *httpsServers
}

// An Option changes how New assembles the App.
type Option func(*options)

type options struct {
	pushers map[string]outputs.NewPusherFunc
	source  func() (*config.Config, error)
}

// WithPusher makes destinations whose URL has this scheme use f (a test that trusts its own
// certificate authority for RTMPS, say) instead of the built-in pusher.
func WithPusher(scheme string, f outputs.NewPusherFunc) Option {
	return func(o *options) { o.pushers[scheme] = f }
}

// New builds everything the configuration describes, in dependency order (the database and
// the WebRTC port first), and binds every listener, so that a taken port stops start-up with
// a clear error before anything serves. On error, what was opened is closed again.
func New(cfg *config.Config, log *slog.Logger, version string, opts ...Option) (_ *App, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, applied: cfg, log: log, pulls: newPullSet()}
	a.inForce.Store(cfg)
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	retention, err := replays.PolicyFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	platforms, err := presets.Default()
	if err != nil {
		return nil, err
	}
	if a.Store, err = store.Open(context.Background(), filepath.Join(cfg.DataDir, store.FileName), store.Options{Logger: log}); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	undo = append(undo, func() { _ = a.Store.Close() })
	a.accounts = &auth.Service{Store: a.Store, Log: log, SecureCookies: cfg.HTTP.SecureCookies}
	if a.rtc, err = rtcnet.Listen(rtcnet.Config{
		UDPPort: cfg.WebRTC.UDPPort, TCPPort: cfg.WebRTC.TCPPort, PublicIPs: cfg.WebRTC.PublicIPs,
		Interfaces: cfg.WebRTC.Interfaces, STUNServers: cfg.WebRTC.STUNServers,
	}); err != nil {
		return nil, fmt.Errorf("webrtc.udp_port: %w", err)
	}
	undo = append(undo, func() { _ = a.rtc.Close() })

	o := options{pushers: a.pushers()}
	for _, opt := range opts {
		opt(&o)
	}
	a.source = o.source
	if err := a.newObjectStorage(); err != nil {
		return nil, err
	}
	a.newMediaPlane(o)
	if a.PlatformViewers, err = a.newPlatformPoller(); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if a.https, err = newCertificates(cfg.TLS, cfg.DataDir, log); err != nil {
		return nil, err
	}
	if a.https != nil {
		undo = append(undo, a.https.close)
	}
	// The audience of each stream's last event is kept in the database (written every 5 s),
	// so that a restart, even kill -9, loses at most those seconds (see Run).
	a.Audience = audience.New(audience.Options{Window: cfg.Audience.Window, BeaconWindow: cfg.Audience.BeaconWindow,
		Journal: a.Store, Grace: cfg.ReconnectGrace, Logger: log,
		Platforms: a.PlatformViewers, Outputs: outputFigures{a.Outputs}})
	if err := a.newIngest(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { a.closeIngest() })
	if err := a.declareStreams(); err != nil {
		return nil, err
	}
	a.newPullers()
	a.Replays = &replays.Service{Store: a.Store, FFmpeg: cfg.Transcode.FFmpeg, Retention: retention, Logger: log}
	a.newClips()
	a.attachObjects()
	if err := a.newWebRTC(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = a.whip.Close(); _ = a.WHEP.Close() })
	if cfg.HLS.Enabled {
		a.HLS = outhls.New(a.Registry, a.Renditions, a.Audience, outhls.Options{
			PartDuration: cfg.HLS.PartDuration, SegmentDuration: cfg.HLS.SegmentDuration,
			AllowOrigins: cfg.HLS.AllowOrigins, MaxLag: cfg.HLS.MaxLag, Operator: a.isOperator,
			Ladder: a.ladder, LadderAlways: cfg.HLS.LadderAlways,
		}, log)
	}
	if err := a.newHTTP(version, platforms); err != nil {
		return nil, err
	}
	return a, nil
}

// ladder returns the rungs of a stream's adaptive HLS ladder, as the configuration in force
// says (hls.ladder, or the stream's hls_ladder).
func (a *App) ladder(stream string) []transcode.Rung { return a.inForce.Load().Ladder(stream) }

// pushers are the built-in destination kinds, by URL scheme.
func (a *App) pushers() map[string]outputs.NewPusherFunc {
	m := map[string]outputs.NewPusherFunc{"rtmp": outrtmp.New, "rtmps": outrtmp.New, "srt": outsrt.New}
	whip := outwhip.NewFunc(outwhip.Config{Net: a.rtc})
	for _, s := range outwhip.Schemes() {
		m[s] = whip
	}
	return m
}

// newMediaPlane makes the registry and what follows its streams: renditions, destinations,
// the recorder (whose catalogue is the database).
func (a *App) newMediaPlane(o options) {
	cfg, log := a.cfg, a.log
	a.Registry = relay.NewRegistry(relay.RegistryOptions{Grace: cfg.ReconnectGrace, Logger: log})
	a.Renditions = transcode.New(transcode.Options{
		FFmpeg: cfg.Transcode.FFmpeg, AACBitrate: cfg.Transcode.AACBitrate, Logger: log,
	})
	a.Outputs = outputs.NewManager(a.Registry, maps.Clone(o.pushers), outputs.Options{
		WriteTimeout: cfg.Outputs.WriteTimeout, MaxLag: cfg.Outputs.MaxLag,
		RetryMin: cfg.Outputs.RetryMin, RetryMax: cfg.Outputs.RetryMax, Logger: log,
		Renditions: a.Renditions, AllowPrivateNetworks: cfg.Outputs.AllowPrivateNetworks,
	})
	a.Recorder = record.New(a.Registry, record.Options{
		Root: cfg.RecordingsDir(), SegmentDuration: cfg.Record.SegmentDuration,
		Catalog: a.Store, Logger: log, Off: !cfg.Record.Enabled,
		Uploads: a.recordUploads(),
	})
	if cfg.Standby.Enabled {
		dir := filepath.Join(cfg.DataDir, "standby")
		a.Standby = standby.New(a.Registry, standby.Options{FFmpeg: cfg.Transcode.FFmpeg, Logger: log,
			Picture: func(stream string) string { return manage.StandbyImage(dir, stream) }})
	}
}

// destinationConfig is a destination of the file as the outputs manager takes it (at start
// and on reload alike).
func destinationConfig(d config.Destination) outputs.DestinationConfig {
	return outputs.DestinationConfig{Name: d.Name, URL: d.URL, Enabled: d.IsEnabled(), AllowPrivate: d.AllowPrivate,
		Shape: d.Shape}
}

// declareStreams adds the streams and destinations of the configuration file, then those
// made in the console (kept in the database).
func (a *App) declareStreams() error {
	cfg := a.cfg
	for _, s := range cfg.Streams {
		if _, err := a.Registry.Add(s.Name, s.PublishKey); err != nil {
			return err
		}
		// Backup sources (failover): the relay's sources and the pullers of camera sources.
		if err := a.setSources(cfg, s, nil); err != nil {
			return err
		}
		a.setConfigured(s, true)
		a.Recorder.SetEnabled(s.Name, s.IsRecorded(cfg.Record))
		for _, d := range s.Destinations {
			if err := a.Outputs.Add(s.Name, destinationConfig(d)); err != nil {
				return err
			}
		}
	}
	ctx := context.Background()
	oneTime, err := auth.Bootstrap(ctx, a.Store, cfg.Admin.Password, cfg.Admin.Token, a.log)
	if err != nil {
		return err
	}
	if oneTime != "" {
		a.log.Info("first start: log in to the console as \"admin\" with this one-time password, shown once; change it there",
			"password", oneTime)
	}
	if len(cfg.Streams) == 0 {
		if err := manage.EnsureDefaultStream(ctx, a.Store, cfg.DataDir, a.log, a.defaultPublishURL); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	}
	if err := manage.Load(ctx, a.Store, a.Registry, a.Outputs, a.Recorder, a.log); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := manage.LoadSources(ctx, a.Store, a.Registry, a.managed, a.log); err != nil { // backup sources
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// managed reports whether a stream (dest "") or destination comes from the configuration file.
func (a *App) managed(stream, dest string) bool {
	if dest == "" {
		return a.configured.has(stream)
	}
	return a.configured.has(stream + "/" + dest)
}

// ingestServer is one ingest listener: bound by New, served by Run.
type ingestServer struct {
	protocol string
	server   interface {
		Listen() error
		ListenAddr() net.Addr
		Run(ctx context.Context) error
		Close()
		PublishURL(host, stream, key string) string
	}
}

// newIngest makes and binds the ingest listeners.
func (a *App) newIngest() error {
	cfg, log := a.cfg, a.log
	if cfg.RTMP.Addr != "" {
		a.ingest = append(a.ingest, ingestServer{"rtmp", &ingestrtmp.Server{
			Addr: cfg.RTMP.Addr, Registry: a.Registry, AllowRead: cfg.RTMP.Read, Viewers: a.Audience,
			WriteTimeout: cfg.RTMP.WriteTimeout, MaxLag: cfg.RTMP.MaxLag, Logger: log,
		}})
	}
	if cfg.RTMPS.Addr != "" && (cfg.RTMPS.Cert != "" || a.https != nil) {
		var tlsConfig *tls.Config
		if cfg.RTMPS.Cert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.RTMPS.Cert, cfg.RTMPS.Key)
			if err != nil {
				return fmt.Errorf("rtmps.cert/rtmps.key: %w", err)
			}
			tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		} else {
			tlsConfig = a.https.rtmpsConfig() // the certificate of HTTPS (tls section)
		}
		a.ingest = append(a.ingest, ingestServer{"rtmps", &ingestrtmp.Server{
			Addr: cfg.RTMPS.Addr, Registry: a.Registry, AllowRead: cfg.RTMP.Read, Viewers: a.Audience,
			TLSConfig:    tlsConfig,
			WriteTimeout: cfg.RTMP.WriteTimeout, MaxLag: cfg.RTMP.MaxLag, Logger: log,
		}})
	}
	if cfg.SRT.Addr != "" {
		a.ingest = append(a.ingest, ingestServer{"srt", &ingestsrt.Server{
			Addr: cfg.SRT.Addr, Registry: a.Registry, Passphrase: cfg.SRT.Passphrase,
			Latency: cfg.SRT.Latency, Logger: log,
		}})
	}
	if cfg.RTSP.Addr != "" {
		a.ingest = append(a.ingest, ingestServer{"rtsp", &ingestrtsp.Server{
			Addr: cfg.RTSP.Addr, Registry: a.Registry, Logger: log,
		}})
	}
	for i, s := range a.ingest {
		if err := s.server.Listen(); err != nil {
			for _, l := range a.ingest[:i] {
				l.server.Close()
			}
			return err
		}
	}
	return nil
}

// newPullers makes the pullers of the configured streams that pull from a camera.
func (a *App) newPullers() {
	for _, s := range a.cfg.Streams {
		if s.Pull.URL != "" {
			a.pulls.set(s.Name, a.newPuller(a.cfg, s))
		}
	}
}

func (a *App) closeIngest() {
	for _, s := range a.ingest {
		s.server.Close()
	}
}

// isOperator reports whether a request carries an operator's (or admin's) session or token:
// the console's preview is then not counted as a viewer (audience.PreviewHeader).
func (a *App) isOperator(r *http.Request) bool { return a.accounts.Is(r, auth.Operator) }

// newWebRTC makes the WHIP publishers' and WHEP viewers' servers on the shared port.
func (a *App) newWebRTC() (err error) {
	cfg := a.cfg
	// One set of caps on the sessions pending on the shared port, publishers and viewers alike.
	pending := rtcnet.NewAdmission(cfg.WebRTC.MaxPending, cfg.WebRTC.MaxPendingPerAddress)
	if a.whip, err = ingestwhip.New(a.Registry, ingestwhip.Config{
		Net: a.rtc, KeyframeInterval: cfg.WebRTC.KeyframeInterval, Admission: pending, Logger: a.log,
	}); err != nil {
		return err
	}
	if a.WHEP, err = outwhep.New(a.Registry, outwhep.Config{
		Net: a.rtc, Renditions: a.Renditions, Audience: a.Audience, MaxLag: cfg.WHEP.MaxLag,
		Admission: pending, Logger: a.log,
		Operator: a.isOperator,
	}); err != nil {
		_ = a.whip.Close()
		return err
	}
	return nil
}

// newHTTP makes the one HTTP server (console, API, public pages, HLS, WHIP/WHEP, /metrics)
// and binds its listener.
func (a *App) newHTTP(version string, platforms *presets.Set) error {
	cfg, log := a.cfg, a.log
	accounts := a.accounts
	a.Replays.Audit = accounts
	a.Replays.PublicURL = cfg.HTTP.PublicURL
	operator := func(h http.Handler) http.Handler { return accounts.Require(auth.Operator, h) }
	media := web.Media{WHIP: a.whip.Handler(), WHEP: a.WHEP.Handler()}
	if a.HLS != nil {
		media.HLS = a.HLS.Handler()
	}
	a.api = web.New(web.Options{
		Registry: a.Registry, Destinations: a.Outputs,
		Status:  web.Status{Pull: a.pulls, Renditions: a.Renditions, Recording: a.Recorder, Network: a.networkStats()},
		Managed: a.managed, Presets: platforms, Operator: operator, Accounts: accounts,
		Manage: &manage.Handler{Registry: a.Registry, Outputs: a.Outputs, Store: a.Store, Sources: a.Store, Managed: a.managed,
			URLs: a.publishURLs, Protect: operator, Audit: accounts, Recorder: a.Recorder, Presets: platforms, Log: log,
			StandbyDir: filepath.Join(cfg.DataDir, "standby")},
		Replays: a.Replays, Clips: a.Clips, Audience: a.Audience, Media: media, Console: console.Handler(),
		Events: a.Store, Platforms: web.PlatformCounts{Poller: a.PlatformViewers, Store: a.Store, Audit: accounts},
		Reload:    accounts.Require(auth.Admin, http.HandlerFunc(a.serveReload)),
		WatchMode: cfg.Watch.Mode, Version: version, PublicURL: cfg.HTTP.PublicURL, MetricsToken: cfg.Metrics.Token,
		Health: a.healthChecks(),
	})
	hln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", cfg.HTTP.Addr, err)
	}
	handler := a.api.Handler()
	if a.hsrv, err = httpServer(cfg.HTTP, handler, log); err != nil {
		_ = hln.Close()
		return err
	}
	if a.https != nil {
		if err := a.https.listen(*cfg, handler, log); err != nil {
			_ = hln.Close()
			return err
		}
	}
	a.hln = limitListener(hln, cfg.HTTP.MaxConnections)
	return nil
}

// phases lists every component in the order of shutdown (DESIGN.md, Lifecycles): ingest first,
// so that nothing new is published; then the recorders finish their recordings; the viewers'
// sessions end; the streams end, so that destinations close their platform sessions cleanly;
// then the destinations, the HTTP server, the sweeps, and the database last. Adding a
// component is one entry here.
func (a *App) phases() []phase {
	ingest := phase{name: "ingest", close: []Closer{{"ingest whip", a.whip.Close}}}
	// Not a listener (WHIP is served over HTTP): the sweep of its wrong-key limiter.
	ingest.run = append(ingest.run, Component{"whip publish-key limiter", a.whip.Run})
	for _, s := range a.ingest {
		ingest.run = append(ingest.run, Component{"ingest " + s.protocol, s.server.Run})
	}
	ingest.run = append(ingest.run, Component{"camera pulls", a.pulls.Run})
	if a.Standby != nil { // a publisher too: it stops with ingest
		ingest.run = append(ingest.run, Component{"standby", a.Standby.Run})
	}
	viewers := phase{name: "viewers",
		run:   []Component{{"audience", func(ctx context.Context) error { return a.Audience.Run(ctx, a.Registry) }}},
		close: []Closer{{"whep", a.WHEP.Close}},
	}
	if a.HLS != nil {
		viewers.run = append(viewers.run, Component{"hls", a.HLS.Run})
	}
	viewers.run = append(viewers.run, Component{"platform viewer counts", a.PlatformViewers.Run})
	return []phase{
		ingest,
		{name: "recorders", run: []Component{{"recorder", a.Recorder.Run}}},
		viewers,
		{name: "registry", close: []Closer{{"registry", func() error { a.Registry.StopAll(); return nil }}}},
		{name: "destinations", run: []Component{{"destinations", a.Outputs.Run}}, close: []Closer{
			{"renditions", func() error { a.Renditions.Close(); return nil }},
			{"webrtc port", a.rtc.Close},
		}},
		{name: "http", run: append([]Component{
			{"events", func(ctx context.Context) error { a.api.Run(ctx); return nil }},
			{"http", a.serveHTTP},
		}, a.https.components()...)},
		{name: "sweeps", run: append([]Component{{"replays", a.Replays.Run}}, a.uploaderComponents()...)},
		{name: "clips", run: []Component{{"clips", a.Clips.Run}}},
		{name: "store", close: []Closer{{"database", a.Store.Close}}},
	}
}

// serveHTTP serves until ctx is cancelled, then lets requests in flight finish for up to 5 s.
func (a *App) serveHTTP(ctx context.Context) error {
	return serve(ctx, a.hsrv, func() error { return a.hsrv.Serve(a.hln) })
}

// Run serves until ctx is cancelled or a component fails, then stops the components phase
// by phase (see phases) and returns the failures, if any.
func (a *App) Run(ctx context.Context) error {
	a.recoverRecordings() // before anything is recorded
	a.restoreAudience()   // before the report is served
	a.logListeners()
	err := runPhases(ctx, a.log, a.health.track(ctx, a.phases()))
	a.log.Info("stopped")
	return err
}

func (a *App) logListeners() {
	log := a.log
	for _, s := range a.ingest {
		log.Info("listening", "protocol", s.protocol, "addr", s.server.ListenAddr().String())
	}
	log.Info("listening", "protocol", "webrtc", "udp", a.rtc.UDPAddr().String(), "whip", "/whip/<stream>", "go_live", "/go-live",
		"whep", "/whep/<stream>", "watch", "/watch/<stream>")
	if tcp := a.rtc.TCPAddr(); tcp != nil {
		log.Info("listening", "protocol", "webrtc", "ice_tcp", tcp.String())
	}
	log.Info("listening", "protocol", "http", "addr", a.hln.Addr().String(), "api", "/api/v1/streams", "metrics", "/metrics")
	a.https.logListeners(log)
}

// recoverRecordings closes the recordings a crash left open and tells the catalogue of every
// recording on disk.
func (a *App) recoverRecordings() {
	root := a.cfg.RecordingsDir()
	infos, err := record.Recover(root, a.log)
	if err != nil {
		a.log.Error("recordings: cannot read the recordings directory", "dir", root, "error", err.Error())
		return
	}
	for _, in := range infos {
		a.Store.Recorded(in)
	}
	if len(infos) > 0 {
		a.log.Info("recordings found", "dir", root, "count", len(infos))
	}
}

// restoreAudience reads back the last event of every stream from the database: its report
// holds what was written before a restart, and it goes on if the stream is live again
// within the reconnect grace.
func (a *App) restoreAudience() {
	var names []string
	for _, s := range a.Registry.List() {
		names = append(names, s.Name())
	}
	a.Audience.Restore(context.Background(), names)
}

// HTTPAddr returns the HTTP listener's address.
func (a *App) HTTPAddr() string { return a.hln.Addr().String() }

// HTTPSAddr returns the HTTPS listener's address ("" without a tls section).
func (a *App) HTTPSAddr() string { return a.https.addr() }

// HTTPRedirectAddr returns the address of the listener that redirects to HTTPS ("" when
// there is none).
func (a *App) HTTPRedirectAddr() string { return a.https.redirectAddr() }

// RTMPAddr returns the RTMP listener's address ("" when disabled).
func (a *App) RTMPAddr() string { return a.ingestAddr("rtmp") }

// RTMPSAddr returns the RTMPS listener's address ("" when disabled).
func (a *App) RTMPSAddr() string { return a.ingestAddr("rtmps") }

// RTSPAddr returns the RTSP server's address ("" when disabled).
func (a *App) RTSPAddr() string { return a.ingestAddr("rtsp") }

// SRTAddr returns the SRT listener's UDP address ("" when disabled).
func (a *App) SRTAddr() string { return a.ingestAddr("srt") }

func (a *App) ingestAddr(protocol string) string {
	for _, s := range a.ingest {
		if s.protocol == protocol {
			return s.server.ListenAddr().String()
		}
	}
	return ""
}

// networkStats gathers the ingest servers that count what the network did to their
// publishers (WHIP, SRT), for the streams' "network" in the API.
func (a *App) networkStats() netstats.Sources {
	src := netstats.Sources{a.whip}
	for _, in := range a.ingest {
		if s, ok := in.server.(netstats.Source); ok {
			src = append(src, s)
		}
	}
	return src
}
