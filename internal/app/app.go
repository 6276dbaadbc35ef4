package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
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
	outrtmp "github.com/beffroi/beffroi/outputs/rtmp"
	outsrt "github.com/beffroi/beffroi/outputs/srt"
	outwhip "github.com/beffroi/beffroi/outputs/whip"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web"
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
	Renditions *transcode.Manager

	ingest  []ingestServer
	pullers map[string]*ingestrtsp.Puller // by stream name
	rtc     *rtcnet.Net                   // the one UDP port of every WebRTC peer
	whip    *ingestwhip.Server
	hln     net.Listener
	hsrv    *http.Server
}

// New builds everything the configuration describes and binds every listener, so that a
// taken port stops start-up with a clear error before anything serves.
func New(cfg *config.Config, log *slog.Logger, version string) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, log: log, version: version}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	a.Registry = relay.NewRegistry(relay.RegistryOptions{Grace: cfg.ReconnectGrace, Logger: log})
	a.Renditions = transcode.NewManager(transcode.Options{
		FFmpeg: cfg.Transcode.FFmpeg, AACBitrate: cfg.Transcode.AACBitrate,
		Grace: cfg.ReconnectGrace, Logger: log,
	})
	a.Outputs = outputs.NewManager(a.Registry, a.pushers(), outputs.Options{
		WriteTimeout: cfg.Outputs.WriteTimeout, MaxLag: cfg.Outputs.MaxLag,
		RetryMin: cfg.Outputs.RetryMin, RetryMax: cfg.Outputs.RetryMax, Logger: log,
		Renditions: a.Renditions,
	})
	for _, s := range cfg.Streams {
		if _, err := a.Registry.Add(s.Name, s.PublishKey); err != nil {
			return nil, err
		}
		for _, d := range s.Destinations {
			if err := a.Outputs.Add(s.Name, outputs.DestinationConfig{Name: d.Name, URL: d.URL, Enabled: d.IsEnabled()}); err != nil {
				return nil, err
			}
		}
	}
	if len(cfg.Streams) == 0 {
		if err := addDefaultStream(a.Registry, cfg, log); err != nil {
			return nil, err
		}
	}

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
	rtc, err := rtcnet.Listen(rtcnet.Config{
		UDPPort: cfg.WebRTC.UDPPort, TCPPort: cfg.WebRTC.TCPPort, PublicIPs: cfg.WebRTC.PublicIPs, Interfaces: cfg.WebRTC.Interfaces,
		STUNServers: cfg.WebRTC.STUNServers,
	})
	if err != nil {
		a.closeListeners(a.ingest)
		return nil, fmt.Errorf("webrtc.udp_port: %w", err)
	}
	a.rtc = rtc
	whip, err := ingestwhip.New(a.Registry, ingestwhip.Config{
		Net: rtc, KeyframeInterval: cfg.WebRTC.KeyframeInterval, Logger: log,
	})
	if err != nil {
		_ = a.rtc.Close()
		a.closeListeners(a.ingest)
		return nil, err
	}
	a.whip = whip
	hln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		_ = a.whip.Close()
		_ = a.rtc.Close()
		a.closeListeners(a.ingest)
		return nil, fmt.Errorf("http: listen %s: %w", cfg.HTTP.Addr, err)
	}
	a.hln = hln
	api := &web.Server{Registry: a.Registry, Destinations: a.Outputs, Logger: log, Version: version,
		Pull: a.pullStatus, Renditions: a.renditions, WHIP: a.whip.Handler()}
	a.hsrv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second,
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
	m := make(map[string]outputs.NewPusherFunc, len(Pushers)+len(outwhip.Schemes))
	maps.Copy(m, Pushers)
	whip := outwhip.NewFunc(outwhip.Config{Net: func() *rtcnet.Net { return a.rtc }})
	for _, s := range outwhip.Schemes {
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
// (destinations close their sessions cleanly), then the outputs and the HTTP server.
func (a *App) Run(ctx context.Context) error {
	log := a.log
	for _, s := range a.ingest {
		log.Info("listening", "protocol", s.protocol, "addr", s.server.ListenAddr().String())
	}
	log.Info("listening", "protocol", "webrtc", "udp", a.rtc.UDPAddr().String(), "whip", "/whip/<stream>", "go_live", "/go-live")
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
	var httpWG sync.WaitGroup
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
	a.Registry.StopAll()
	stopOutputs()
	outWG.Wait()
	_ = a.rtc.Close()
	a.Renditions.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.hsrv.Shutdown(sctx)
	httpWG.Wait()
	log.Info("stopped")
	return runErr
}

// addDefaultStream creates the stream "live" with a publish key generated once and kept in
// data_dir, so a newcomer can go live in a minute and the key survives restarts. The publish
// URL is logged only when the key is created.
func addDefaultStream(reg *relay.Registry, cfg *config.Config, log *slog.Logger) error {
	path := filepath.Join(cfg.DataDir, "live.key")
	key, err := os.ReadFile(path)
	created := false
	if errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		key = []byte(strings.ToLower(base32.StdEncoding.EncodeToString(b)))
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return fmt.Errorf("data_dir: saving the publish key: %w", err)
		}
		created = true
	} else if err != nil {
		return fmt.Errorf("data_dir: reading the publish key: %w", err)
	}
	k := strings.TrimSpace(string(key))
	if _, err := reg.Add(defaultStream, k); err != nil {
		return err
	}
	if created {
		host := publicHost()
		port := "1935"
		if _, p, err := net.SplitHostPort(cfg.RTMP.Addr); err == nil {
			port = p
		}
		log.Info("no stream configured: created the stream \"live\"; this publish URL is shown once, keep it (the key is saved in "+path+")",
			"publish_url", fmt.Sprintf("rtmp://%s:%s/%s/%s", host, port, ingestrtmp.App, k))
	} else {
		log.Info("no stream configured: using the stream \"live\" (its publish key is in " + path + ")")
	}
	return nil
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
