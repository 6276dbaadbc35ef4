package config

import "time"

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
	// a publisher who comes back in time continues the same broadcast; default 30s.
	ReconnectGrace time.Duration `mapstructure:"reconnect_grace"`
	Log            Log           `mapstructure:"log"`
	Outputs        Outputs       `mapstructure:"outputs"`
	Transcode      Transcode     `mapstructure:"transcode"`
	// Streams are the streams declared in the file ("managed by config"); they come only from
	// the file, never from the environment or flags.
	Streams []Stream `mapstructure:"streams"`
}

// HTTP configures the HTTP server (console, API, HLS, WHIP/WHEP, /metrics).
type HTTP struct {
	Addr string `mapstructure:"addr"` // default ":8080"
}

// RTMP configures the plain RTMP listener.
type RTMP struct {
	Addr string `mapstructure:"addr"` // default ":1935"; "" disables the RTMP listener
	Read bool   `mapstructure:"read"` // default false; allow RTMP play of rtmp://host/live/<stream>
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

// RTSP configures the RTSP server cameras and encoders push to (ANNOUNCE/RECORD).
type RTSP struct {
	Addr string `mapstructure:"addr"` // TCP, default ":8554"; "" disables the RTSP server
}

// WebRTC configures the WebRTC media port shared by every browser publisher (WHIP).
type WebRTC struct {
	UDPPort          int           `mapstructure:"udp_port"`          // default 8189: one UDP port for every peer
	TCPPort          int           `mapstructure:"tcp_port"`          // default 8189: ICE-TCP fallback for peers whose UDP is blocked; 0 any free port, -1 disables
	PublicIPs        []string      `mapstructure:"public_ips"`        // addresses announced to peers (behind NAT)
	Interfaces       []string      `mapstructure:"interfaces"`        // interfaces to gather candidates on; [lo] keeps it on 127.0.0.1
	STUNServers      []string      `mapstructure:"stun_servers"`      // stun:host:port
	KeyframeInterval time.Duration `mapstructure:"keyframe_interval"` // default 2s: how often browsers are asked for a keyframe
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
}

// Transcode configures the renditions made when a destination needs other codecs than the
// source has (Opus from a phone browser to AAC for RTMP platforms).
type Transcode struct {
	FFmpeg     string `mapstructure:"ffmpeg"`      // ffmpeg executable, default "ffmpeg" (from PATH)
	AACBitrate int    `mapstructure:"aac_bitrate"` // bits per second, default 160000 (music quality)
}

// Stream is one event channel declared in the file.
type Stream struct {
	Name         string        `mapstructure:"name"`        // public slug
	PublishKey   string        `mapstructure:"publish_key"` // secret
	Pull         Pull          `mapstructure:"pull"`        // optional camera to pull from
	Destinations []Destination `mapstructure:"destinations"`
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
}

// IsEnabled reports Enabled, defaulting to true.
func (d Destination) IsEnabled() bool {
	return d.Enabled == nil || *d.Enabled
}

// Default returns the configuration Beffroi runs with when nothing is configured: no file, no
// environment, no flags. Load starts from these values.
func Default() *Config {
	return &Config{
		HTTP:           HTTP{Addr: ":8080"},
		RTMP:           RTMP{Addr: ":1935"},
		RTMPS:          RTMPS{Addr: ":1936"},
		SRT:            SRT{Addr: ":8890", Latency: 200 * time.Millisecond},
		RTSP:           RTSP{Addr: ":8554"},
		WebRTC:         WebRTC{UDPPort: 8189, TCPPort: 8189, KeyframeInterval: 2 * time.Second},
		DataDir:        "./data",
		ReconnectGrace: 30 * time.Second,
		Log:            Log{Level: "info", Format: "text"},
		Transcode:      Transcode{FFmpeg: "ffmpeg", AACBitrate: 160000},
		Outputs: Outputs{
			WriteTimeout: 10 * time.Second,
			MaxLag:       5 * time.Second,
			RetryMin:     time.Second,
			RetryMax:     30 * time.Second,
		},
	}
}
