package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/beffroi/beffroi/config"
	ingestrtmp "github.com/beffroi/beffroi/ingest/rtmp"
	ingestrtsp "github.com/beffroi/beffroi/ingest/rtsp"
	ingestsrt "github.com/beffroi/beffroi/ingest/srt"
	ingestwhip "github.com/beffroi/beffroi/ingest/whip"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/outputs"
	outhls "github.com/beffroi/beffroi/outputs/hls"
	"github.com/beffroi/beffroi/outputs/record"
	outrtmp "github.com/beffroi/beffroi/outputs/rtmp"
	outsrt "github.com/beffroi/beffroi/outputs/srt"
	outwhep "github.com/beffroi/beffroi/outputs/whep"
	outwhip "github.com/beffroi/beffroi/outputs/whip"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web"
	"github.com/beffroi/beffroi/web/auth"
	"github.com/beffroi/beffroi/web/console"
	"github.com/beffroi/beffroi/web/manage"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/store"
)

// defaultStream is created when the configuration declares no stream.
const defaultStream = "live"

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
	cfg     *config.Config
	log     *slog.Logger
	version string

	// Registry holds the streams.
	Registry *relay.Registry
	// Outputs runs the destinations; add, remove, enable and disable them while live.
	Outputs *outputs.Manager
	// Renditions makes the streams destinations need when the source does not fit them.
	Renditions *transcode.Renditions
	// Audience counts the viewers of every stream. Players of other protocols (WHEP) report
	// their sessions to it with Audience.Join(stream, protocol).
	Audience *audience.Counter
	// HLS makes and serves every live stream's low-latency HLS (nil when hls.enabled is off).
	HLS *outhls.Server

	// Store is the embedded database (<data_dir>/beffroi.db): accounts, the streams and
	// destinations made in the console, the recordings catalogue (the recorder's
	// record.Catalog). Closed last at shutdown.
	Store *store.Store
	// Replays serves recordings and replays and sweeps old recordings away.
	Replays *replays.Service
	// Recorder records every live session of the streams (outputs/record).
	Recorder *record.Recorder
	// Catalog, when set, is told of every recording: those found on disk when Run starts
	// (record.Recover, which closes the ones a crash left open), then every change of every
	// recording made while running. Set it before Run (the embedded database does); nil
	// means no catalogue.
	Catalog record.Catalog

	ingest  []ingestServer
	pullers map[string]*ingestrtsp.Puller // by stream name
	rtc     *rtcnet.Net                   // the one UDP port of every WebRTC peer
	whip    *ingestwhip.Server
	hln     net.Listener
	api     *web.Server
	// configured names the streams and destinations of the configuration file ("stream" and
	// "stream/destination"): read-only in the console.
	configured map[string]bool
	hsrv       *http.Server

	// WHEP plays the streams to viewers over WebRTC (/whep/<stream>). Its SetAudience
	// connects the viewer counter.
	WHEP *outwhep.Server
}

// New builds everything the configuration describes and binds every listener, so that a
// taken port stops start-up with a clear error before anything serves.
func New(cfg *config.Config, log *slog.Logger, version string) (_ *App, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, log: log, version: version}
	// On error, what was opened is closed again.
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
	retention, err := retentionPolicy(cfg)
	if err != nil {
		return nil, err
	}
	a.Registry = relay.NewRegistry(relay.RegistryOptions{Grace: cfg.ReconnectGrace, Logger: log})
	a.Renditions = transcode.New(transcode.Options{
		FFmpeg: cfg.Transcode.FFmpeg, AACBitrate: cfg.Transcode.AACBitrate,
		Logger: log,
	})
	a.Outputs = outputs.NewManager(a.Registry, a.pushers(), outputs.Options{
		WriteTimeout: cfg.Outputs.WriteTimeout, MaxLag: cfg.Outputs.MaxLag,
		RetryMin: cfg.Outputs.RetryMin, RetryMax: cfg.Outputs.RetryMax, Logger: log,
		Renditions: a.Renditions,
	})
	a.Recorder = record.New(a.Registry, record.Options{
		Root: cfg.RecordingsDir(), SegmentDuration: cfg.Record.SegmentDuration,
		Catalog: appCatalog{a}, Logger: log, Off: !cfg.Record.Enabled,
	})
	for _, s := range cfg.Streams {
		if _, err := a.Registry.Add(s.Name, s.PublishKey); err != nil {
			return nil, err
		}
		a.Recorder.SetEnabled(s.Name, s.IsRecorded(cfg.Record))
		for _, d := range s.Destinations {
			if err := a.Outputs.Add(s.Name, outputs.DestinationConfig{Name: d.Name, URL: d.URL, Enabled: d.IsEnabled()}); err != nil {
				return nil, err
			}
		}
	}
	if err := a.openStore(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = a.Store.Close() })
	a.Catalog = a.Store // the recordings catalogue
	a.Replays = &replays.Service{Store: a.Store, FFmpeg: cfg.Transcode.FFmpeg, Retention: retention, Logger: log}

	if cfg.RTMP.Addr != "" {
		a.ingest = append(a.ingest, ingestServer{"rtmp", &ingestrtmp.Server{
			Addr: cfg.RTMP.Addr, Registry: a.Registry, AllowRead: cfg.RTMP.Read,
			WriteTimeout: cfg.Outputs.WriteTimeout, Logger: log,
		}})
	}
	if cfg.RTMPS.Addr != "" && cfg.RTMPS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.RTMPS.Cert, cfg.RTMPS.Key)
		if err != nil {
			return nil, fmt.Errorf("rtmps.cert/rtmps.key: %w", err)
		}
		a.ingest = append(a.ingest, ingestServer{"rtmps", &ingestrtmp.Server{
			Addr: cfg.RTMPS.Addr, Registry: a.Registry, AllowRead: cfg.RTMP.Read,
			TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			WriteTimeout: cfg.Outputs.WriteTimeout, Logger: log,
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
	a.pullers = map[string]*ingestrtsp.Puller{}
	for _, s := range cfg.Streams {
		if s.Pull.URL == "" {
			continue
		}
		a.pullers[s.Name] = &ingestrtsp.Puller{
			URL: s.Pull.URL, Transport: s.Pull.Transport, Stream: a.Registry.Get(s.Name), Logger: log,
			RetryMin: cfg.Outputs.RetryMin, RetryMax: cfg.Outputs.RetryMax,
		}
	}
	for i, s := range a.ingest {
		if err := s.Listen(); err != nil {
			a.closeListeners(a.ingest[:i])
			return nil, err
		}
	}
	undo = append(undo, func() { a.closeListeners(a.ingest) })
	rtc, err := rtcnet.Listen(rtcnet.Config{
		UDPPort: cfg.WebRTC.UDPPort, TCPPort: cfg.WebRTC.TCPPort, PublicIPs: cfg.WebRTC.PublicIPs, Interfaces: cfg.WebRTC.Interfaces,
		STUNServers: cfg.WebRTC.STUNServers,
	})
	if err != nil {
		return nil, fmt.Errorf("webrtc.udp_port: %w", err)
	}
	a.rtc = rtc
	undo = append(undo, func() { _ = a.rtc.Close() })
	whip, err := ingestwhip.New(a.Registry, ingestwhip.Config{
		Net: rtc, KeyframeInterval: cfg.WebRTC.KeyframeInterval, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	a.whip = whip
	undo = append(undo, func() { _ = a.whip.Close() })
	// WHEP viewers share the WebRTC UDP port with WHIP publishers; the viewer counter joins
	// them below (newViewers).
	a.WHEP, err = outwhep.New(a.Registry, outwhep.Config{
		Net: rtc, Renditions: a.Renditions, MaxLag: cfg.Outputs.MaxLag, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = a.WHEP.Close() })
	hln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("http: listen %s: %w", cfg.HTTP.Addr, err)
	}
	a.hln = hln
	accounts := &auth.Service{Store: a.Store, Log: log, SecureCookies: cfg.HTTP.SecureCookies}
	a.Replays.Audit = accounts
	operator := func(h http.Handler) http.Handler { return accounts.Require(auth.Operator, h) }
	a.api = &web.Server{Registry: a.Registry, Destinations: a.Outputs, Logger: log, Version: version,
		Operator: operator, Accounts: accounts,
		Manage: &manage.Handler{Registry: a.Registry, Outputs: a.Outputs, Store: a.Store, Managed: a.managed,
			URLs: a.publishURLs, Protect: operator, Audit: accounts, Recorder: a.Recorder, Log: log},
		Pull: a.pullStatus, Renditions: a.renditions, WHIP: a.whip.Handler(), Replays: a.Replays,
		Recording: a.recordingStatus, WHEP: a.WHEP.Handler(), WatchMode: cfg.Watch.Mode}
	a.newViewers(a.api)
	a.WHEP.SetAudience(a.Audience)
	a.api.Console = console.Handler()
	a.api.Managed = a.managed
	a.hsrv = &http.Server{Handler: a.api.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return a, nil
}

// ingestServer is one ingest listener: bound by New, served by Run.
type ingestServer struct {
	protocol string
	server   interface {
		Listen() error
		ListenAddr() net.Addr
		Run(ctx context.Context) error
		Close()
	}
}

func (s ingestServer) Listen() error                 { return s.server.Listen() }
func (s ingestServer) Run(ctx context.Context) error { return s.server.Run(ctx) }

func (a *App) closeListeners(l []ingestServer) {
	for _, s := range l {
		s.server.Close()
	}
}

// Pushers maps destination URL schemes to their pushers.
var Pushers = map[string]outputs.NewPusherFunc{
	"rtmp": outrtmp.New, "rtmps": outrtmp.New, "srt": outsrt.New,
}

// pushers is Pushers plus the kinds that need the App: WHIP destinations send their media
// from the shared WebRTC port (a.rtc, opened after the destinations are declared).
func (a *App) pushers() map[string]outputs.NewPusherFunc {
	m := make(map[string]outputs.NewPusherFunc, len(Pushers)+len(outwhip.Schemes()))
	maps.Copy(m, Pushers)
	whip := outwhip.NewFunc(outwhip.Config{Net: func() *rtcnet.Net { return a.rtc }})
	for _, s := range outwhip.Schemes() {
		m[s] = whip
	}
	return m
}

// HTTPAddr returns the HTTP listener's address.
func (a *App) HTTPAddr() string { return a.hln.Addr().String() }

// RTMPAddr returns the RTMP listener's address ("" when disabled).
func (a *App) RTMPAddr() string { return a.ingestAddr("rtmp") }

// RTMPSAddr returns the RTMPS listener's address ("" when disabled).
func (a *App) RTMPSAddr() string { return a.ingestAddr("rtmps") }

// RTSPAddr returns the RTSP server's address ("" when disabled).
func (a *App) RTSPAddr() string { return a.ingestAddr("rtsp") }

// pullStatus returns the state of a stream's camera puller, or nil.
func (a *App) pullStatus(stream string) any {
	if p := a.pullers[stream]; p != nil {
		return p.Status()
	}
	return nil
}

// renditions returns the renditions made of a stream, or nil.
func (a *App) renditions(stream string) any {
	var l []transcode.RenditionStatus
	for _, r := range a.Renditions.Status() {
		if r.Stream == stream {
			l = append(l, r)
		}
	}
	if l == nil {
		return nil
	}
	return l
}

// recordingStatus returns the recorder's state for a stream (record.Status).
func (a *App) recordingStatus(stream string) any { return a.Recorder.Status(stream) }

// appCatalog forwards to the App's Catalog, which may be set after New.
type appCatalog struct{ a *App }

func (c appCatalog) Recorded(in record.Info) {
	if c.a.Catalog != nil {
		c.a.Catalog.Recorded(in)
	}
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
		if a.Catalog != nil {
			a.Catalog.Recorded(in)
		}
	}
	if len(infos) > 0 {
		a.log.Info("recordings found", "dir", root, "count", len(infos))
	}
}

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

// Run serves until ctx is cancelled. Shutdown stops ingest first, then ends the streams
// (destinations close their sessions cleanly), finalises the recordings, then closes the
// outputs and the HTTP server.
func (a *App) Run(ctx context.Context) error {
	log := a.log
	a.recoverRecordings() // before anything is recorded
	for _, s := range a.ingest {
		log.Info("listening", "protocol", s.protocol, "addr", s.server.ListenAddr().String())
	}
	log.Info("listening", "protocol", "webrtc", "udp", a.rtc.UDPAddr().String(), "whip", "/whip/<stream>", "go_live", "/go-live",
		"whep", "/whep/<stream>", "watch", "/watch/<stream>")
	if tcp := a.rtc.TCPAddr(); tcp != nil {
		log.Info("listening", "protocol", "webrtc", "ice_tcp", tcp.String())
	}
	log.Info("listening", "protocol", "http", "addr", a.hln.Addr().String(), "api", "/api/v1/streams", "metrics", "/metrics")

	ingestCtx, stopIngest := context.WithCancel(context.Background())
	outCtx, stopOutputs := context.WithCancel(context.Background())
	defer stopIngest()
	defer stopOutputs()
	var wg sync.WaitGroup
	errc := make(chan error, len(a.ingest)+1)
	// The recorder follows the streams before any publisher can arrive.
	recCtx, stopRecorder := context.WithCancel(context.Background())
	defer stopRecorder()
	var recWG sync.WaitGroup
	recWG.Go(func() { _ = a.Recorder.Run(recCtx) })
	for _, s := range a.ingest {
		wg.Go(func() {
			if err := s.Run(ingestCtx); err != nil {
				errc <- err
			}
		})
	}
	for _, p := range a.pullers {
		wg.Go(func() { _ = p.Run(ingestCtx) }) // reconnects forever; returns when cancelled
	}
	var outWG sync.WaitGroup
	outWG.Go(func() { _ = a.Outputs.Run(outCtx) })
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	defer stopSweep()
	var sweepWG sync.WaitGroup
	sweepWG.Go(func() { _ = a.Replays.Run(sweepCtx) })
	a.runViewers(outCtx, &outWG)
	var httpWG sync.WaitGroup
	httpWG.Go(func() { a.api.Run(outCtx) })
	httpWG.Go(func() {
		if err := a.hsrv.Serve(a.hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	})

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("stopping after a fatal error", "error", runErr)
	}
	stopIngest()
	wg.Wait()
	_ = a.whip.Close()
	// The recordings read what ingest had published, and are closed (finished).
	stopRecorder()
	recWG.Wait()
	// Viewers' sessions end before the shared WebRTC port closes.
	_ = a.WHEP.Close()
	a.Registry.StopAll()
	stopOutputs()
	outWG.Wait()
	_ = a.rtc.Close()
	a.Renditions.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.hsrv.Shutdown(sctx)
	httpWG.Wait()
	stopSweep()
	sweepWG.Wait()
	if err := a.Store.Close(); err != nil {
		log.Error("closing the database", "error", err)
	}
	log.Info("stopped")
	return runErr
}

// openStore opens the embedded database, makes the first admin, and brings back the streams
// and destinations made in the console. With no stream at all (none in the file, none made
// yet) it makes the stream "live", so a newcomer can go live in a minute.
func (a *App) openStore() error {
	cfg, log := a.cfg, a.log
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, store.FileName), store.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	a.Store = st
	fail := func(err error) error { _ = st.Close(); return err }
	oneTime, err := auth.Bootstrap(ctx, st, cfg.Admin.Password, cfg.Admin.Token, log)
	if err != nil {
		return fail(err)
	}
	if oneTime != "" {
		log.Info("first start: log in to the console as \"admin\" with this one-time password, shown once; change it there",
			"password", oneTime)
	}
	a.configured = map[string]bool{}
	for _, s := range cfg.Streams {
		a.configured[s.Name] = true
		for _, d := range s.Destinations {
			a.configured[s.Name+"/"+d.Name] = true
		}
	}
	if len(cfg.Streams) == 0 {
		if err := a.addDefaultStream(ctx); err != nil {
			return fail(err)
		}
	}
	if err := manage.Load(ctx, st, a.Registry, a.Outputs, a.Recorder, log); err != nil {
		return fail(fmt.Errorf("database: %w", err))
	}
	return nil
}

// managed reports whether a stream (dest "") or destination comes from the configuration file.
func (a *App) managed(stream, dest string) bool {
	if dest == "" {
		return a.configured[stream]
	}
	return a.configured[stream+"/"+dest]
}

// addDefaultStream makes the stream "live" in the database when there is no stream at all.
// Its publish URL is logged once, when it is made. (A key kept in data_dir/live.key by an
// older Beffroi is taken over.)
func (a *App) addDefaultStream(ctx context.Context) error {
	l, err := a.Store.ListStreams(ctx)
	if err != nil || len(l) > 0 {
		return err
	}
	path := filepath.Join(a.cfg.DataDir, "live.key")
	key := manage.NewKey()
	old, err := os.ReadFile(path)
	kept := err == nil && len(strings.TrimSpace(string(old))) > 0
	if kept {
		key = strings.TrimSpace(string(old))
	}
	if err := a.Store.CreateStream(ctx, manage.Stream{Name: defaultStream, PublishKey: key, Created: time.Now().UTC()}); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if kept {
		_ = os.Remove(path)
		a.log.Info("no stream configured: using the stream \"live\" (its publish key, from " + path + ", is now in the database)")
		return nil
	}
	port := "1935"
	if _, p, err := net.SplitHostPort(a.cfg.RTMP.Addr); err == nil {
		port = p
	}
	a.log.Info("no stream yet: made the stream \"live\"; this publish URL is shown once, keep it (or rotate the key in the console)",
		"publish_url", fmt.Sprintf("rtmp://%s:%s/%s/%s", publicHost(), port, ingestrtmp.App, key))
	return nil
}

// publishURLs are the addresses a publisher uses for a stream, each with its key, as the
// console shows them right after the key is made.
func (a *App) publishURLs(r *http.Request, stream, key string) manage.PublishURLs {
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	port := func(addr, def string) string {
		if _, p, err := net.SplitHostPort(addr); err == nil && p != "0" {
			return p
		}
		return def
	}
	scheme := "http"
	if r.TLS != nil || a.cfg.HTTP.SecureCookies {
		scheme = "https"
	}
	u := manage.PublishURLs{
		"go_live": fmt.Sprintf("%s://%s/go-live/%s?key=%s", scheme, r.Host, stream, url.QueryEscape(key)),
		"whip":    fmt.Sprintf("%s://%s/whip/%s", scheme, r.Host, stream),
	}
	if a.cfg.RTMP.Addr != "" {
		u["rtmp"] = fmt.Sprintf("rtmp://%s:%s/%s/%s", host, port(a.RTMPAddr(), "1935"), ingestrtmp.App, key)
		u["obs_server"] = fmt.Sprintf("rtmp://%s:%s/%s", host, port(a.RTMPAddr(), "1935"), ingestrtmp.App)
	}
	if a.RTMPSAddr() != "" {
		u["rtmps"] = fmt.Sprintf("rtmps://%s:%s/%s/%s", host, port(a.RTMPSAddr(), "1936"), ingestrtmp.App, key)
	}
	if a.cfg.SRT.Addr != "" {
		u["srt"] = fmt.Sprintf("srt://%s:%s?streamid=publish:%s:%s", host, port(a.SRTAddr(), "8890"), stream, key)
	}
	if a.cfg.RTSP.Addr != "" {
		u["rtsp"] = fmt.Sprintf("rtsp://%s:%s/%s?key=%s", host, port(a.RTSPAddr(), "8554"), stream, url.QueryEscape(key))
	}
	return u
}

// publicHost guesses the address a phone on the same network would use.
func publicHost() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "localhost"
}

// retentionPolicy turns record.retention and the streams' overrides into the sweep's
// policy. A stream's own max_size bounds that stream; record.retention.max_size bounds all.
func retentionPolicy(cfg *config.Config) (replays.Policy, error) {
	g := cfg.Record.Retention
	age, err := config.ParseAge(g.MaxAge)
	if err != nil {
		return replays.Policy{}, fmt.Errorf("record.retention.max_age: %w", err)
	}
	size, err := config.ParseSize(g.MaxSize)
	if err != nil {
		return replays.Policy{}, fmt.Errorf("record.retention.max_size: %w", err)
	}
	p := replays.Policy{Default: replays.Retention{MaxAge: age, MaxSize: size, KeepPublished: g.KeepPublished}}
	for _, s := range cfg.Streams {
		o := s.Record.Retention
		if o == (config.StreamRetention{}) {
			continue
		}
		r := replays.Retention{MaxAge: age, KeepPublished: g.KeepPublished}
		if o.MaxAge != "" {
			if r.MaxAge, err = config.ParseAge(o.MaxAge); err != nil {
				return p, fmt.Errorf("streams %q: record.retention.max_age: %w", s.Name, err)
			}
		}
		if r.MaxSize, err = config.ParseSize(o.MaxSize); err != nil {
			return p, fmt.Errorf("streams %q: record.retention.max_size: %w", s.Name, err)
		}
		if o.KeepPublished != nil {
			r.KeepPublished = *o.KeepPublished
		}
		if p.Streams == nil {
			p.Streams = map[string]replays.Retention{}
		}
		p.Streams[s.Name] = r
	}
	return p, nil
}
