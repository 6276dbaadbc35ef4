package config

import (
	"path/filepath"
	"strings"
	"time"

	ingestrtmp "github.com/beffroi/beffroi/ingest/rtmp"
	ingestrtsp "github.com/beffroi/beffroi/ingest/rtsp"
	ingestsrt "github.com/beffroi/beffroi/ingest/srt"
	ingestwhip "github.com/beffroi/beffroi/ingest/whip"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/internal/tlsauto"
	"github.com/beffroi/beffroi/outputs"
	outhls "github.com/beffroi/beffroi/outputs/hls"
	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/outputs/record"
	outwhep "github.com/beffroi/beffroi/outputs/whep"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web/watch"
)

// DefaultFile is the file Load reads from the working directory when no --config flag is given
// and the file exists.
const DefaultFile = "beffroi.yaml"

// Config is Beffroi's static configuration.
type Config struct {
	HTTP  HTTP  `mapstructure:"http"`
	RTMP  RTMP  `mapstructure:"rtmp"`
	RTMPS RTMPS `mapstructure:"rtmps"`
	SRT   SRT   `mapstructure:"srt"`
	RTSP  RTSP  `mapstructure:"rtsp"`
	// WebRTC configures WHIP publishing (the go-live page in a phone browser).
	WebRTC WebRTC `mapstructure:"webrtc"`
	// DataDir holds the database and recordings; default "./data".
	DataDir string `mapstructure:"data_dir"`
	// ReconnectGrace is how long destinations stay open after the publisher goes away, so that
	// a publisher who comes back in time continues the same broadcast; default 30s. Zero is
	// no grace: the publisher leaving ends the session at once. Negative is refused.
	ReconnectGrace time.Duration `mapstructure:"reconnect_grace"`
	Log            Log           `mapstructure:"log"`
	Outputs        Outputs       `mapstructure:"outputs"`
	Transcode      Transcode     `mapstructure:"transcode"`
	Standby        Standby       `mapstructure:"standby"`
	// Admin sets up the first account at the first start (BEFFROI_ADMIN_PASSWORD,
	// BEFFROI_ADMIN_TOKEN); ignored once a user exists.
	Admin Admin `mapstructure:"admin"`
	// Record configures the recordings.
	Record Record `mapstructure:"record"`
	// HLS configures the low-latency HLS every live stream is played with.
	HLS HLS `mapstructure:"hls"`
	// WHEP configures WebRTC playback (/whep/<stream>), the watch page's lowest latency.
	WHEP WHEP `mapstructure:"whep"`
	// Audience configures the viewer count.
	Audience Audience `mapstructure:"audience"`
	// Watch configures the public watch and embed pages (/watch/<stream>, /embed/<stream>).
	Watch Watch `mapstructure:"watch"`
	// Metrics configures /metrics.
	Metrics Metrics `mapstructure:"metrics"`
	// Health configures /healthz, what the town's monitoring polls.
	Health Health `mapstructure:"health"`
	// TLS serves HTTPS on Beffroi's own ports, with a certificate obtained over ACME
	// (tls.domain) or read from files (tls.cert, tls.key), and gives it to RTMPS.
	TLS TLS `mapstructure:"tls"`
	// Streams are the streams declared in the file ("managed by config"); they come only from
	// the file, never from the environment or flags.
	Streams []Stream `mapstructure:"streams"`
}

// The HTTP server's limits (http.idle_timeout, http.body_timeout, http.max_connections):
// what a stranger may hold open. The composition root builds the server from them.
// Long-polling HLS requests and websockets are not bodies and are not cut by them.
const (
	// DefaultIdleTimeout is how long a keep-alive connection may wait for its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultBodyTimeout is how long a client may take to send a request body (a login, a
	// WHIP/WHEP offer, a beacon).
	DefaultBodyTimeout = 15 * time.Second
	// DefaultMaxConnections caps the HTTP connections open at once (viewers on LL-HLS hold one
	// or two each); beyond it new connections wait to be accepted.
	DefaultMaxConnections = 20000
)

// HTTP configures the HTTP server (console, API, HLS, WHIP/WHEP, /metrics).
type HTTP struct {
	Addr string `mapstructure:"addr"` // default ":8080"
	// SecureCookies marks the console's session cookie Secure: set it when Beffroi is behind
	// a proxy that terminates HTTPS (requests over TLS get it anyway).
	SecureCookies bool `mapstructure:"secure_cookies"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose X-Forwarded-For is
	// believed: behind them, login limits, the audit log and per-address caps see the client's
	// address. Empty (the default): no forwarded header is trusted.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// PublicURL is the address the public reaches Beffroi by (https://live.example.org): the
	// base of the links and embed codes of public pages and of the go-live links. Empty: the
	// request's own scheme and host (fine on a LAN; set it on the internet).
	PublicURL string `mapstructure:"public_url"`
	// IdleTimeout is how long a keep-alive connection may wait for its next request.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"` // default 2m
	// BodyTimeout is how long a client may take to send a request body.
	BodyTimeout time.Duration `mapstructure:"body_timeout"` // default 15s
	// MaxConnections caps the HTTP connections open at once.
	MaxConnections int `mapstructure:"max_connections"` // default 20000
}

// Metrics configures /metrics (Prometheus).
type Metrics struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on /metrics. Empty (the
	// default): /metrics is open, like /healthz; it names streams and destinations (never a
	// key), so firewall it or set a token on the internet.
	Token string `mapstructure:"token"`
}

// DefaultMinFreeDisk is health.min_free_disk's default: about 45 minutes of recording at
// 6 Mbit/s.
const DefaultMinFreeDisk = "2GB"

// Health configures /healthz.
type Health struct {
	// MinFreeDisk: /healthz fails when the disk of the recordings or of the database has less
	// free space than this ("2GB", "500MiB"); "0" turns the threshold off (a read-only disk
	// still fails). Default DefaultMinFreeDisk.
	MinFreeDisk string `mapstructure:"min_free_disk"`
}

// TLS configures HTTPS served by Beffroi itself. With a domain, the certificate is obtained
// and renewed over ACME (Let's Encrypt by default) and kept in <data_dir>/acme; with cert and
// key, it is read from those files (and read again when they change). Either way the HTTP
// server (console, go-live page, WHIP/WHEP, HLS) is served on HTTPSListen, HTTPListen
// redirects to it, and RTMPS uses the same certificate unless rtmps.cert is set. Neither:
// no HTTPS (a reverse proxy in front does it).
type TLS struct {
	Domain string `mapstructure:"domain"` // the public name (live.example.org) to get a certificate for over ACME
	Email  string `mapstructure:"email"`  // the ACME account's contact (expiry and policy notices); optional
	// ACMECA is the ACME directory URL; "" is Let's Encrypt's production directory.
	ACMECA string `mapstructure:"acme_ca"`
	// ACMECARoot is a PEM file of the roots to trust for the ACME server's own HTTPS (a
	// private CA, a test server); "" trusts the system's roots.
	ACMECARoot string `mapstructure:"acme_ca_root"`
	Cert       string `mapstructure:"cert"` // PEM certificate file (with its chain), instead of ACME
	Key        string `mapstructure:"key"`  // PEM private key file, with cert
	// HTTPSListen is where HTTPS is served; default ":443".
	HTTPSListen string `mapstructure:"https_listen"`
	// HTTPListen redirects plain HTTP to HTTPS and answers the ACME HTTP-01 validations;
	// default ":80"; "" turns it off (ACME then validates over TLS-ALPN on HTTPSListen).
	HTTPListen string `mapstructure:"http_listen"`
	// RenewInterval is how often the ACME certificate is checked for renewal; default 10m.
	RenewInterval time.Duration `mapstructure:"renew_interval"`
}

// Enabled reports whether Beffroi serves HTTPS itself (a domain, or certificate files).
func (t TLS) Enabled() bool { return t.Domain != "" || t.Cert != "" }

// Admin is the first account, made at the first start when no user exists.
type Admin struct {
	// Password of the user "admin"; empty: a one-time password is generated and logged once.
	Password string `mapstructure:"password"`
	// Token, when set, becomes an admin API token (automation, as InfluxDB's init token).
	Token string `mapstructure:"token"`
}

// RTMP configures the plain RTMP listener; Read, WriteTimeout and MaxLag apply to the RTMPS
// listener as well (one RTMP ingest, two listeners).
type RTMP struct {
	Addr         string        `mapstructure:"addr"`          // default ":1935"; "" disables the RTMP listener
	Read         bool          `mapstructure:"read"`          // default false; allow RTMP play of rtmp://host/live/<stream>
	WriteTimeout time.Duration `mapstructure:"write_timeout"` // default 10s: a player that accepts nothing for this long is cut off
	MaxLag       time.Duration `mapstructure:"max_lag"`       // default 5s: a player further behind live than this skips to the newest keyframe
}

// RTMPS configures the RTMP-over-TLS listener.
type RTMPS struct {
	Addr string `mapstructure:"addr"` // default ":1936"; the listener runs only when Cert and Key are both set
	Cert string `mapstructure:"cert"` // PEM certificate file
	Key  string `mapstructure:"key"`  // PEM private key file
}

// SRT configures the SRT listener (phone apps such as Larix, hardware encoders).
type SRT struct {
	Addr       string        `mapstructure:"addr"`       // UDP, default ":8890"; "" disables SRT
	Passphrase string        `mapstructure:"passphrase"` // optional SRT encryption passphrase (10 to 79 characters)
	Latency    time.Duration `mapstructure:"latency"`    // receiver latency, default 200ms; more for bad networks
}

// RTSP configures the RTSP server cameras and encoders push to (ANNOUNCE/RECORD), and the
// pulls of the cameras streams name in their pull section.
type RTSP struct {
	Addr         string        `mapstructure:"addr"`           // TCP, default ":8554"; "" disables the RTSP server
	PullRetryMin time.Duration `mapstructure:"pull_retry_min"` // default 1s: first delay before pulling a camera again
	PullRetryMax time.Duration `mapstructure:"pull_retry_max"` // default 30s: longest delay between two pull attempts
}

// WebRTC configures the WebRTC media port shared by every browser publisher (WHIP).
type WebRTC struct {
	UDPPort          int           `mapstructure:"udp_port"`          // default 8189: one UDP port for every peer
	TCPPort          int           `mapstructure:"tcp_port"`          // default 8189: ICE-TCP fallback for peers whose UDP is blocked; 0 any free port, -1 disables
	PublicIPs        []string      `mapstructure:"public_ips"`        // addresses announced to peers (behind NAT)
	Interfaces       []string      `mapstructure:"interfaces"`        // interfaces to gather candidates on; [lo] keeps it on 127.0.0.1
	STUNServers      []string      `mapstructure:"stun_servers"`      // stun:host:port
	KeyframeInterval time.Duration `mapstructure:"keyframe_interval"` // default 2s: how often browsers are asked for a keyframe
	// MaxPending caps the WebRTC sessions (WHIP and WHEP) answered but not yet connected;
	// MaxPendingPerAddress caps them per client address. Past either, 503 with Retry-After.
	MaxPending           int `mapstructure:"max_pending"`             // default 64
	MaxPendingPerAddress int `mapstructure:"max_pending_per_address"` // default 8
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`  // debug|info|warn|error, default info
	Format string `mapstructure:"format"` // text|json, default text
}

// Outputs holds the tuning shared by every push destination.
type Outputs struct {
	WriteTimeout time.Duration `mapstructure:"write_timeout"` // default 10s: a destination whose socket accepts nothing for this long is reconnected
	MaxLag       time.Duration `mapstructure:"max_lag"`       // default 5s: a destination further behind live than this skips to the newest keyframe
	RetryMin     time.Duration `mapstructure:"retry_min"`     // default 1s: first reconnect delay
	RetryMax     time.Duration `mapstructure:"retry_max"`     // default 30s: longest reconnect delay
	// AllowPrivateNetworks lets destinations reach loopback, private, link-local and cloud
	// metadata addresses (checked when dialling, so a name that resolves there is refused too).
	// Default false: destinations are platforms on the internet; a destination of the town's own
	// network sets its own allow_private (admins only).
	AllowPrivateNetworks bool `mapstructure:"allow_private_networks"`
}

// Transcode configures the renditions made when a destination needs other codecs than the
// source has (Opus from a phone browser to AAC for RTMP platforms).
type Transcode struct {
	FFmpeg     string `mapstructure:"ffmpeg"`      // ffmpeg executable, default "ffmpeg" (from PATH)
	AACBitrate int    `mapstructure:"aac_bitrate"` // bits per second, default 160000 (music quality)
}

// Standby configures the standby picture every reader gets while the source is away.
type Standby struct {
	Enabled bool `mapstructure:"enabled"` // default true: a slate with the stream's name and silence during the reconnect grace (needs ffmpeg)
}

// HLS configures low-latency HLS playback at /hls/<stream>/index.m3u8.
type HLS struct {
	Enabled         bool          `mapstructure:"enabled"`          // default true: every live stream is served as LL-HLS
	PartDuration    time.Duration `mapstructure:"part_duration"`    // default 200ms: shortest LL-HLS part (100ms to 2s)
	SegmentDuration time.Duration `mapstructure:"segment_duration"` // default 1s: shortest segment; a segment ends on a keyframe
	AllowOrigins    []string      `mapstructure:"allow_origins"`    // origins whose pages may play the HLS (CORS); empty means any ("*")
	MaxLag          time.Duration `mapstructure:"max_lag"`          // default 5s: the muxer further behind live than this skips to the newest keyframe
	Ladder          string        `mapstructure:"ladder"`           // default "720p:2500k,480p:1200k,360p:600k,240p:300k": smaller qualities offered beside the source ("off": none)
	LadderAlways    bool          `mapstructure:"ladder_always"`    // default false: the ladder is encoded only while HLS players watch
}

// WHEP configures WebRTC playback; its media goes through the webrtc section's port.
type WHEP struct {
	MaxLag time.Duration `mapstructure:"max_lag"` // default 5s: a viewer further behind live than this skips to the newest keyframe
}

// Audience configures viewer counting.
type Audience struct {
	Window       time.Duration `mapstructure:"window"`        // default 10s: an HLS viewer stays counted this long after its last playlist request
	BeaconWindow time.Duration `mapstructure:"beacon_window"` // default 35s: ... and this long after its last beacon from the watch page

	// Platforms configures the reading of the platforms' own viewer counts (YouTube,
	// Twitch, Facebook) for the destinations given API credentials.
	Platforms AudiencePlatforms `mapstructure:"platforms"`
}

// defaultAudiencePlatforms polls every 30 s, the real APIs.
func defaultAudiencePlatforms() AudiencePlatforms {
	return AudiencePlatforms{PollEvery: platforms.DefaultEvery, YouTubeURL: platforms.DefaultYouTubeURL,
		TwitchURL: platforms.DefaultTwitchURL, FacebookURL: platforms.DefaultFacebookURL}
}

// AudiencePlatforms configures the platform viewer-count polls (outputs/platforms).
type AudiencePlatforms struct {
	PollEvery   time.Duration `mapstructure:"poll_every"`   // default 30s, at least 10s: each live destination's count is read this often
	YouTubeURL  string        `mapstructure:"youtube_url"`  // default https://www.googleapis.com/youtube/v3
	TwitchURL   string        `mapstructure:"twitch_url"`   // default https://api.twitch.tv/helix
	FacebookURL string        `mapstructure:"facebook_url"` // default https://graph.facebook.com/v21.0
}

// Watch configures the public player pages.
type Watch struct {
	// Mode is how players play: "auto" (WebRTC for the lowest latency, HLS when it does not
	// connect), "hls" (scale mode: every viewer on HLS, which a CDN can serve) or "webrtc".
	// Default "auto".
	Mode string `mapstructure:"mode"`
}

// Stream is one event channel declared in the file.
type Stream struct {
	Name         string        `mapstructure:"name"`        // public slug
	PublishKey   string        `mapstructure:"publish_key"` // secret
	Pull         Pull          `mapstructure:"pull"`        // optional camera to pull from
	Destinations []Destination `mapstructure:"destinations"`
	Record       StreamRecord  `mapstructure:"record"` // this stream's recording: on or off, retention

	// Backup sources (failover). The primary source is the stream's own publish_key (or
	// pull); sources are the backups, the first of highest priority.
	SourceName    string        `mapstructure:"source_name"`    // the primary's name in the console and the events; default "primary"
	Sources       []Source      `mapstructure:"sources"`        // backup sources, by priority
	FailoverAfter time.Duration `mapstructure:"failover_after"` // default 1.5s: the source on air sending nothing this long hands over
	FailbackAfter time.Duration `mapstructure:"failback_after"` // default 10s: a source of higher priority sending this long comes back on air

	HLSLadder string `mapstructure:"hls_ladder"` // default "": hls.ladder; "off" for none, or this stream's rungs
}

// Ladder returns the rungs of the stream's adaptive HLS ladder (validated: none when invalid).
func (c *Config) Ladder(stream string) []transcode.Rung {
	spec := c.HLS.Ladder
	for _, s := range c.Streams {
		if s.Name == stream && strings.TrimSpace(s.HLSLadder) != "" {
			spec = s.HLSLadder
		}
	}
	if strings.TrimSpace(spec) == "" {
		return nil
	}
	rungs, err := transcode.ParseLadder(spec)
	if err != nil {
		return nil
	}
	return rungs
}

// Source is a stream's backup source: an encoder publishing with its own key, or a camera
// Beffroi pulls.
type Source struct {
	Name       string `mapstructure:"name"`        // how the console and the events name it ("phone")
	PublishKey string `mapstructure:"publish_key"` // secret; or pull
	Pull       Pull   `mapstructure:"pull"`        // a camera pulled over RTSP (pull.url is secret)
}

// Record configures recordings: every live session of a stream becomes one recording
// (fragmented MP4 segments and an HLS playlist) that survives a crash or a full disk.
type Record struct {
	Enabled         bool          `mapstructure:"enabled"`          // default true: record every stream unless its record.enabled: false
	Dir             string        `mapstructure:"dir"`              // default "": <data_dir>/recordings
	SegmentDuration time.Duration `mapstructure:"segment_duration"` // default 2s: segments are cut on the first keyframe after it
	Retention       Retention     `mapstructure:"retention"`

	// Storage is where recordings live once written: "local" (the default: they stay in
	// record.dir) or "s3": every file is still written to record.dir first, then uploaded to
	// the bucket of record.s3 as it closes, and the local copy removed once uploaded.
	Storage string `mapstructure:"storage"`
	// S3 is the object store of record.storage: s3.
	S3 S3 `mapstructure:"s3"`
}

// Storage kinds of record.storage.
const (
	StorageLocal = "local"
	StorageS3    = "s3"
)

// S3 is an S3-compatible object store (AWS S3, MinIO, SeaweedFS, Garage, OVH, Scaleway...).
// The keys are write-only: they never appear in a log line, an API answer or config check.
type S3 struct {
	Endpoint  string `mapstructure:"endpoint"`   // host[:port] without scheme ("s3.fr-par.scw.cloud")
	Bucket    string `mapstructure:"bucket"`     // made at the first upload if missing
	Region    string `mapstructure:"region"`     // "" lets the server say (most answer us-east-1)
	AccessKey string `mapstructure:"access_key"` // secret; also BEFFROI_S3_ACCESS_KEY
	SecretKey string `mapstructure:"secret_key"` // secret; also BEFFROI_S3_SECRET_KEY
	Prefix    string `mapstructure:"prefix"`     // keys are <prefix>/<recording id>/<file>; "" for none
	KeepLocal bool   `mapstructure:"keep_local"` // default false: local media removed once uploaded
	UseSSL    bool   `mapstructure:"use_ssl"`    // default true: https to the endpoint
	// Presign: replay files no longer on the disk are answered with a redirect (302) to a
	// presigned bucket URL, valid one hour, instead of being streamed through Beffroi
	// (default false). The bucket must then be reachable by the viewers.
	Presign bool `mapstructure:"presign"`
}

// IsRecorded reports whether the stream is recorded: its own record key, else
// record.enabled.
func (s Stream) IsRecorded(r Record) bool {
	if s.Record.Enabled != nil {
		return *s.Record.Enabled
	}
	return r.Enabled
}

// RecordingsDir returns where recordings go: record.dir, else <data_dir>/recordings.
func (c *Config) RecordingsDir() string {
	if c.Record.Dir != "" {
		return c.Record.Dir
	}
	return filepath.Join(c.DataDir, "recordings")
}

// Pull is an IP camera (or any RTSP server) a stream pulls its media from, reconnecting forever.
type Pull struct {
	URL       string `mapstructure:"url"`       // rtsp:// or rtsps:// URL, credentials included (secret!)
	Transport string `mapstructure:"transport"` // tcp (default), udp or auto
}

// Destination is a live platform a stream is pushed to.
type Destination struct {
	Name    string `mapstructure:"name"`
	URL     string `mapstructure:"url"`     // full push URL including the platform's stream key (secret!)
	Enabled *bool  `mapstructure:"enabled"` // default true when omitted
	// AllowPrivate lets this destination reach a private or loopback address (a server of the
	// town's own network), whatever outputs.allow_private_networks says.
	AllowPrivate bool `mapstructure:"allow_private"`
	// Shape sends this destination a reshaped picture instead of the source's:
	// "vertical-crop" or "vertical-blur" (720x1280, for phone-first platforms); "" the source's.
	Shape string `mapstructure:"shape"`
}

// IsEnabled reports Enabled, defaulting to true.
func (d Destination) IsEnabled() bool {
	return d.Enabled == nil || *d.Enabled
}

// Retention says how long recordings are kept. A sweep applies it at start and every 10
// minutes; the recording in progress is never deleted.
type Retention struct {
	MaxAge        string `mapstructure:"max_age"`        // "30d", "720h"; "" or "0" keeps recordings whatever their age
	MaxSize       string `mapstructure:"max_size"`       // "50GiB", "500GB"; "" or "0" sets no limit; the oldest go first
	KeepPublished bool   `mapstructure:"keep_published"` // default true: published recordings are never deleted
}

// StreamRecord is a stream's own recording settings.
type StreamRecord struct {
	Enabled   *bool           `mapstructure:"enabled"` // record this stream; default: record.enabled
	Retention StreamRetention `mapstructure:"retention"`
}

// StreamRetention overrides record.retention for one stream; unset keys follow it.
type StreamRetention struct {
	MaxAge        string `mapstructure:"max_age"`  // "" follows record.retention.max_age; "0" keeps forever
	MaxSize       string `mapstructure:"max_size"` // this stream's own limit; "" or "0" sets none (the global one still applies)
	KeepPublished *bool  `mapstructure:"keep_published"`
}

// Default returns the configuration Beffroi runs with when nothing is configured: no file, no
// environment, no flags. Load starts from these values.
func Default() *Config {
	// The tuning of each component is the component's own default, said once there.
	return &Config{
		HTTP: HTTP{
			Addr:           ":8080",
			IdleTimeout:    DefaultIdleTimeout,
			BodyTimeout:    DefaultBodyTimeout,
			MaxConnections: DefaultMaxConnections,
		},
		RTMP: RTMP{
			Addr:         ":1935",
			WriteTimeout: ingestrtmp.DefaultWriteTimeout,
			MaxLag:       ingestrtmp.DefaultMaxLag,
		},
		RTMPS: RTMPS{Addr: ":1936"},
		SRT:   SRT{Addr: ":8890", Latency: ingestsrt.DefaultLatency},
		RTSP: RTSP{
			Addr:         ":8554",
			PullRetryMin: ingestrtsp.DefaultRetryMin,
			PullRetryMax: ingestrtsp.DefaultRetryMax,
		},
		WebRTC: WebRTC{
			UDPPort: 8189, TCPPort: 8189, KeyframeInterval: ingestwhip.DefaultKeyframeInterval,
			MaxPending: rtcnet.DefaultMaxPending, MaxPendingPerAddress: rtcnet.DefaultMaxPendingPerAddress,
		},
		DataDir:        "./data",
		ReconnectGrace: relay.DefaultGrace,
		Log:            Log{Level: "info", Format: "text"},
		Transcode:      Transcode{FFmpeg: transcode.DefaultFFmpeg, AACBitrate: transcode.DefaultAACBitrate},
		Standby:        Standby{Enabled: true},
		Record: Record{
			Enabled:         true,
			SegmentDuration: record.DefaultSegmentDuration,
			Retention:       Retention{KeepPublished: true},
			Storage:         StorageLocal,
			S3:              S3{UseSSL: true},
		},
		HLS: HLS{
			Enabled:         true,
			PartDuration:    outhls.DefaultPartDuration,
			SegmentDuration: outhls.DefaultSegmentDuration,
			MaxLag:          outhls.DefaultMaxLag,
			Ladder:          transcode.DefaultLadder,
		},
		WHEP:     WHEP{MaxLag: outwhep.DefaultMaxLag},
		Audience: Audience{Window: audience.DefaultWindow, BeaconWindow: audience.DefaultBeaconWindow, Platforms: defaultAudiencePlatforms()},
		Watch:    Watch{Mode: watch.ModeAuto},
		Health:   Health{MinFreeDisk: DefaultMinFreeDisk},
		TLS:      TLS{HTTPSListen: ":443", HTTPListen: ":80", RenewInterval: tlsauto.DefaultRenewInterval},
		Outputs: Outputs{
			WriteTimeout: outputs.DefaultWriteTimeout,
			MaxLag:       outputs.DefaultMaxLag,
			RetryMin:     outputs.DefaultRetryMin,
			RetryMax:     outputs.DefaultRetryMax,
		},
	}
}
