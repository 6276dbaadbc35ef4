package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

const exampleFile = "beffroi.example.yaml"

// writeConfig writes content to a file in a fresh directory and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "beffroi.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadAndValidate loads content as the --config file and validates the result.
func loadAndValidate(t *testing.T, content string) (*Config, error) {
	t.Helper()
	c, _, err := Load([]string{"--config", writeConfig(t, content)}, nil)
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

func TestLoadDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no beffroi.yaml here

	c, path, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if path != "" {
		t.Errorf("path = %q, want none", path)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load() = %+v, want the defaults %+v", c, Default())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestLoadFileInWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte("http:\n  addr: \":9000\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	c, path, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if path != DefaultFile || c.HTTP.Addr != ":9000" {
		t.Errorf("Load() = %q from %q, want \":9000\" from %q", c.HTTP.Addr, path, DefaultFile)
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string // "" for no file
		env  []string
		args []string
		want func(c *Config) // applied to Default()
	}{
		{
			name: "file overrides default",
			file: "http:\n  addr: \":9001\"\nreconnect_grace: 1m\n",
			want: func(c *Config) { c.HTTP.Addr = ":9001"; c.ReconnectGrace = time.Minute },
		},
		{
			name: "env overrides file",
			file: "http:\n  addr: \":9001\"\nreconnect_grace: 1m\n",
			env:  []string{"PATH=/bin", "BEFFROI_HTTP_ADDR=:9002", "BEFFROI_RECONNECT_GRACE=45s"},
			want: func(c *Config) { c.HTTP.Addr = ":9002"; c.ReconnectGrace = 45 * time.Second },
		},
		{
			name: "flag overrides env",
			file: "http:\n  addr: \":9001\"\n",
			env:  []string{"BEFFROI_HTTP_ADDR=:9002"},
			args: []string{"--http-addr", ":9003"},
			want: func(c *Config) { c.HTTP.Addr = ":9003" },
		},
		{
			name: "unset flag does not override env or file",
			file: "http:\n  addr: \":9001\"\ndata_dir: /srv/beffroi\n",
			env:  []string{"BEFFROI_HTTP_ADDR=:9002"},
			args: []string{"--log-level=debug"},
			want: func(c *Config) { c.HTTP.Addr = ":9002"; c.DataDir = "/srv/beffroi"; c.Log.Level = "debug" },
		},
		{
			name: "every flag",
			args: []string{"--http-addr=:1", "--rtmp-addr=:2", "--rtmps-addr=:3", "--data-dir=/d", "--log-level=warn"},
			want: func(c *Config) {
				c.HTTP.Addr, c.RTMP.Addr, c.RTMPS.Addr, c.DataDir, c.Log.Level = ":1", ":2", ":3", "/d", "warn"
			},
		},
		{
			name: "empty env value disables rtmp",
			env:  []string{"BEFFROI_RTMP_ADDR="},
			want: func(c *Config) { c.RTMP.Addr = "" },
		},
		{
			name: "empty flag disables rtmp",
			file: "rtmp:\n  addr: \":1999\"\n",
			args: []string{"--rtmp-addr="},
			want: func(c *Config) { c.RTMP.Addr = "" },
		},
		{
			name: "typed env values",
			env: []string{
				"BEFFROI_RTMP_READ=true", "BEFFROI_OUTPUTS_MAX_LAG=2500ms", "BEFFROI_LOG_FORMAT=json",
				"BEFFROI_RTMPS_CERT=/c.pem", "BEFFROI_RTMPS_KEY=/k.pem",
			},
			want: func(c *Config) {
				c.RTMP.Read, c.Outputs.MaxLag, c.Log.Format = true, 2500*time.Millisecond, "json"
				c.RTMPS.Cert, c.RTMPS.Key = "/c.pem", "/k.pem"
			},
		},
		{
			name: "each component's own keys from env",
			env: []string{
				"BEFFROI_RTMP_WRITE_TIMEOUT=20s", "BEFFROI_RTMP_MAX_LAG=3s", "BEFFROI_RTSP_PULL_RETRY_MAX=1m",
				"BEFFROI_HLS_MAX_LAG=4s", "BEFFROI_WHEP_MAX_LAG=2s",
			},
			want: func(c *Config) {
				c.RTMP.WriteTimeout, c.RTMP.MaxLag, c.RTSP.PullRetryMax = 20*time.Second, 3*time.Second, time.Minute
				c.HLS.MaxLag, c.WHEP.MaxLag = 4*time.Second, 2*time.Second
			},
		},
		{
			name: "the last of repeated env entries wins",
			env:  []string{"BEFFROI_DATA_DIR=/a", "BEFFROI_DATA_DIR=/b"},
			want: func(c *Config) { c.DataDir = "/b" },
		},
		{
			name: "empty file entries keep defaults",
			file: "http:\nrtmps:\n  cert:\nstreams:\n",
			want: func(c *Config) {},
		},
		{
			name: "streams come from the file",
			file: "streams:\n  - name: main\n    publish_key: abcdefgh\n    destinations:\n" +
				"      - name: yt\n        url: rtmp://a.rtmp.youtube.com/live2/k\n        enabled: false\n",
			env: []string{"BEFFROI_STREAMS=ignored"},
			want: func(c *Config) {
				off := false
				c.Streams = []Stream{{Name: "main", PublishKey: "abcdefgh", Destinations: []Destination{
					{Name: "yt", URL: "rtmp://a.rtmp.youtube.com/live2/k", Enabled: &off},
				}}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			got, _, err := Load(args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load() =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestExampleFileIsValidAndHoldsTheDefaults(t *testing.T) {
	c, path, err := Load([]string{"--config", exampleFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if path != exampleFile {
		t.Errorf("path = %q, want %q", path, exampleFile)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("the example file sets\n%+v\nwant the defaults\n%+v", c, Default())
	}
}

func TestExampleFileHasEveryKey(t *testing.T) {
	text, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	file := viper.New()
	file.SetConfigFile(exampleFile)
	if err := file.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	keys := defaultViper().AllKeys()
	if len(keys) < 14 {
		t.Fatalf("only %d default keys: %v", len(keys), keys)
	}
	for _, key := range keys {
		leafName := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(text), leafName+":") || !file.InConfig(key) {
			t.Errorf("key %q is missing from %s", key, exampleFile)
		}
	}
}

func TestExampleFileStreamsSectionIsValidWhenUncommented(t *testing.T) {
	text, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	head, block, ok := strings.Cut(string(text), "\n# streams:\n")
	if !ok {
		t.Fatal(`no "# streams:" section in the example file`)
	}
	var b strings.Builder
	b.WriteString(head + "\nstreams:\n")
	for line := range strings.Lines(block) {
		b.WriteString(strings.TrimPrefix(line, "# "))
	}
	c, err := loadAndValidate(t, b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Streams) != 2 || len(c.Streams[0].Destinations) != 3 {
		t.Fatalf("streams = %+v, want two streams, the first with three destinations", c.Streams)
	}
	if !c.Streams[0].IsRecorded(c.Record) || c.Streams[1].IsRecorded(c.Record) {
		t.Errorf("record: the first stream is recorded, the second is not (record: false)")
	}
	if p := c.Streams[1].Pull; p.URL == "" || p.Transport != "tcp" {
		t.Errorf("second stream pull = %+v, want a camera URL over tcp", p)
	}
	for _, d := range c.Streams[0].Destinations {
		if want := d.Name != "x"; d.IsEnabled() != want {
			t.Errorf("destination %q enabled = %v, want %v", d.Name, d.IsEnabled(), want)
		}
	}
}

// stream is a valid streams section that rows below append to.
const stream = `streams:
  - name: main
    publish_key: s3cret-key-1
    destinations:
      - name: youtube
        url: rtmp://a.rtmp.youtube.com/live2/abcd-efgh
`

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		want   string
		secret string // must not appear in the error, in any case
	}{
		{"unknown top-level key", "htp:\n  addr: \":80\"\n", `config: unknown key "htp"`, ""},
		{"unknown nested key", "rtmp:\n  adr: \":1935\"\n", `config: unknown key "rtmp.adr"`, ""},
		{
			"unknown key in a destination",
			stream + "      - name: facebook\n        urll: rtmps://live-api-s.facebook.com:443/rtmp/FB-SECRET\n",
			`config: unknown key "streams[0].destinations[1].urll"`, "FB-SECRET",
		},
		{"bad duration", "reconnect_grace: 30 seconds\n", `config: reconnect_grace: invalid duration "30 seconds"`, ""},
		{"duration without unit", "outputs:\n  max_lag: 5\n", `config: outputs.max_lag: invalid duration 5 (add a unit, e.g. "5s")`, ""},
		{"section of the wrong type", "http: \":8080\"\n", `config: http: must be a mapping (key: value), not a string`, ""},
		{"streams not a list", "streams:\n  name: main\n", `config: streams: must be a list, not a mapping`, ""},
		{"bad boolean", "rtmp:\n  read: maybe\n", `config: rtmp.read: must be true or false, not "maybe"`, ""},
		{"key of the wrong type", "streams:\n  - name: main\n    publish_key: [a, b]\n", `config: streams[0].publish_key: must be a single value, not a list`, ""},
		{
			"bad address", "http:\n  addr: \"8080\"\n",
			`config: http.addr: "8080" is not a valid address (want host:port, e.g. ":8080" or "127.0.0.1:8080")`, "",
		},
		{"bad port", "rtmp:\n  addr: \":99999\"\n", `config: rtmp.addr: ":99999": the port must be a number from 0 to 65535`, ""},
		{"named port", "rtmps:\n  addr: \"localhost:rtmp\"\n", `config: rtmps.addr: "localhost:rtmp": the port must be a number from 0 to 65535`, ""},
		{"empty data dir", "data_dir: \"\"\n", `config: data_dir: must not be empty`, ""},
		{"negative grace", "reconnect_grace: -1s\n", `config: reconnect_grace: must not be negative (got -1s)`, ""},
		{"zero write timeout", "outputs:\n  write_timeout: 0s\n", `config: outputs.write_timeout: must be positive (got 0s)`, ""},
		{"zero RTMP player write timeout", "rtmp:\n  write_timeout: 0s\n", `config: rtmp.write_timeout: must be positive (got 0s)`, ""},
		{"negative RTMP player max lag", "rtmp:\n  max_lag: -1s\n", `config: rtmp.max_lag: must be positive (got -1s)`, ""},
		{"zero HLS max lag", "hls:\n  max_lag: 0s\n", `config: hls.max_lag: must be positive (got 0s)`, ""},
		{"zero WHEP max lag", "whep:\n  max_lag: 0s\n", `config: whep.max_lag: must be positive (got 0s)`, ""},
		{"unknown WHEP key", "whep:\n  lag: 1s\n", `config: unknown key "whep.lag"`, ""},
		{"zero pull retry", "rtsp:\n  pull_retry_min: 0s\n", `config: rtsp.pull_retry_min: must be positive (got 0s)`, ""},
		{
			"pull_retry_min > pull_retry_max", "rtsp:\n  pull_retry_min: 1m\n  pull_retry_max: 10s\n",
			`config: rtsp.pull_retry_min: 1m0s is longer than rtsp.pull_retry_max (10s)`, "",
		},
		{
			"retry_min > retry_max", "outputs:\n  retry_min: 1m\n  retry_max: 10s\n",
			`config: outputs.retry_min: 1m0s is longer than outputs.retry_max (10s)`, "",
		},
		{"short SRT passphrase", "srt:\n  passphrase: tooshort\n", `config: srt.passphrase: must be 10 to 79 characters long (got 8)`, "tooshort"},
		{"segment too short", "record:\n  segment_duration: 100ms\n", `config: record.segment_duration: 100ms is out of range (500ms to 1m)`, ""},
		// record.storage: s3 (t-s3)
		{"unknown storage", "record:\n  storage: ftp\n", `config: record.storage: "ftp" is not one of local, s3`, ""},
		{
			"s3 without a bucket", "record:\n  storage: s3\n  s3:\n    endpoint: s3.example.org\n    access_key: AKIASECRETACCESS\n    secret_key: SeCrEtKeY-1234\n",
			`config: record.s3.bucket: required when record.storage is s3`, "SeCrEtKeY-1234",
		},
		{
			"s3 endpoint with a scheme", "record:\n  storage: s3\n  s3:\n    endpoint: https://s3.example.org\n    bucket: replays\n    access_key: AKIASECRETACCESS\n    secret_key: SeCrEtKeY-1234\n",
			`config: record.s3.endpoint: "https://s3.example.org": write host[:port] without a scheme (record.s3.use_ssl chooses https)`, "SeCrEtKeY-1234",
		},
		{
			"s3 without credentials", "record:\n  storage: s3\n  s3:\n    endpoint: s3.example.org\n    bucket: replays\n",
			"config: record.s3.access_key: required when record.storage is s3 (or BEFFROI_S3_ACCESS_KEY)\nconfig: record.s3.secret_key: required when record.storage is s3 (or BEFFROI_S3_SECRET_KEY)", "",
		},
		{
			"bad bucket name", "record:\n  storage: s3\n  s3:\n    endpoint: s3.example.org\n    bucket: Town_Replays\n    access_key: AKIASECRETACCESS\n    secret_key: SeCrEtKeY-1234\n",
			`config: record.s3.bucket: "Town_Replays" is not a bucket name (3 to 63 lowercase letters, digits, '.' and '-')`, "SeCrEtKeY-1234",
		},
		{"record not a boolean", stream + "    record:\n      enabled: sometimes\n", `config: streams[0].record.enabled: must be true or false, not "sometimes"`, ""},
		{"negative SRT latency", "srt:\n  latency: -1s\n", `config: srt.latency: must not be negative (got -1s)`, ""},
		{"bad RTSP address", "rtsp:\n  addr: \"8554\"\n", `config: rtsp.addr: "8554" is not a valid address (want host:port, e.g. ":8080" or "127.0.0.1:8080")`, ""},
		{
			"pull URL not RTSP", stream + "    pull:\n      url: http://admin:CAMPASS@192.0.2.1/video\n",
			`config: streams[0].pull.url: unsupported scheme (rtsp, rtsps)`, "CAMPASS",
		},
		{
			"bad pull transport", stream + "    pull:\n      url: rtsp://admin:CAMPASS@192.0.2.1/video\n      transport: quic\n",
			`config: streams[0].pull.transport: "quic" is not one of tcp, udp, auto`, "CAMPASS",
		},
		{"source without a key or camera", stream + "    sources:\n      - name: phone\n", `config: streams[0].sources[0]: needs a publish_key (an encoder publishes) or a pull.url (a camera Beffroi pulls)`, ""},
		{
			"source with the stream's key", stream + "    sources:\n      - name: phone\n        publish_key: s3cret-key-1\n",
			`config: streams[0].sources[0].publish_key: same as a publish key of streams[0], its own or a source's (each source needs its own key)`, "s3cret-key-1",
		},
		{"source named like the primary", stream + "    source_name: camera\n    sources:\n      - name: camera\n        publish_key: phone-secret-1\n", `config: streams[0].sources[0].name: "camera" is the primary source's name (streams[0].source_name)`, ""},
		{
			"source with a key and a camera", stream + "    sources:\n      - name: phone\n        publish_key: phone-secret-1\n        pull:\n          url: rtsp://admin:CAMPASS@192.0.2.1/video\n",
			`config: streams[0].sources[0]: has both a publish_key and a pull.url: choose one`, "CAMPASS",
		},
		{"negative failover delay", stream + "    failover_after: -1s\n", `config: streams[0].failover_after: must not be negative`, ""},
		{"bitrate not a number", "transcode:\n  aac_bitrate: high\n", `config: transcode.aac_bitrate: must be a whole number, not a string`, ""},
		{"bitrate out of range", "transcode:\n  aac_bitrate: 8000\n", `config: transcode.aac_bitrate: 8000 is out of range (32000 to 512000 bits per second)`, ""},
		{"HLS part too short", "hls:\n  part_duration: 50ms\n", `config: hls.part_duration: 50ms is out of range (100ms to 2s)`, ""},
		{"HLS segment shorter than two parts", "hls:\n  part_duration: 400ms\n  segment_duration: 600ms\n", `config: hls.segment_duration: 600ms must be at least two parts (hls.part_duration is 400ms)`, ""},
		{"HLS origin not an origin", "hls:\n  allow_origins: [\"www.arras.fr\"]\n", `config: hls.allow_origins[0]: "www.arras.fr" is not an origin like https://www.example.org (or "*")`, ""},
		{"audience window zero", "audience:\n  window: 0s\n", `config: audience.window: must be positive (got 0s)`, ""},
		{"platform polls too often", "audience:\n  platforms:\n    poll_every: 5s\n", `config: audience.platforms.poll_every: must be at least 10s, the platforms' quotas (got 5s)`, ""},
		{"platform URL not a URL", "audience:\n  platforms:\n    twitch_url: api.twitch.tv\n", `config: audience.platforms.twitch_url: "api.twitch.tv" is not an http(s) base URL like https://api.example.com/v1`, ""},
		{"bad log level", "log:\n  level: verbose\n", `config: log.level: "verbose" is not one of debug, info, warn, error`, ""},
		{"bad log format", "log:\n  format: xml\n", `config: log.format: "xml" is not one of text, json`, ""},
		{"bad free-disk threshold", "health:\n  min_free_disk: lots\n", `config: health.min_free_disk: "lots" is not a size (want a number and a unit, like "50GiB" or "500GB")`, ""},
		{"bad watch mode", "watch:\n  mode: cdn\n", `config: watch.mode: "cdn" is not one of auto, hls, webrtc`, ""},
		{"cert without key", "rtmps:\n  cert: /etc/ssl/cert.pem\n", `config: rtmps.key: required when rtmps.cert is set`, ""},
		{"key without cert", "rtmps:\n  key: /etc/ssl/key.pem\n", `config: rtmps.cert: required when rtmps.key is set`, ""},
		{
			"bad stream name", strings.Replace(stream, "name: main", `name: "My Stream"`, 1),
			`config: streams[0].name: "My Stream" is not a valid name (use a-z, 0-9, - and _, up to 64 characters)`, "",
		},
		{
			"stream name too long", strings.Replace(stream, "name: main", "name: "+strings.Repeat("a", 65), 1),
			`config: streams[0].name: "` + strings.Repeat("a", 65) + `" is not a valid name (use a-z, 0-9, - and _, up to 64 characters)`, "",
		},
		{
			"duplicate stream", stream + "  - name: main\n    publish_key: s3cret-key-2\n",
			`config: streams[1].name: "main" is already used by streams[0]`, "",
		},
		{"missing key", "streams:\n  - name: main\n", `config: streams[0].publish_key: required`, ""},
		{
			"short key", strings.Replace(stream, "s3cret-key-1", "Sh0rtK", 1),
			`config: streams[0].publish_key: too short (at least 8 characters)`, "Sh0rtK",
		},
		{
			"key with /", strings.Replace(stream, "s3cret-key-1", "Secret/Key/1", 1),
			`config: streams[0].publish_key: must not contain "/", "?", "#", ":" or "," (it appears in RTMP and SRT URLs)`, "Secret/Key",
		},
		{
			"key with whitespace", strings.Replace(stream, "s3cret-key-1", `"Secret Key 1"`, 1),
			`config: streams[0].publish_key: must not contain whitespace or control characters`, "Secret Key",
		},
		{
			"duplicate key", stream + "  - name: second\n    publish_key: s3cret-key-1\n",
			`config: streams[1].publish_key: same as streams[0].publish_key (each stream needs its own key)`, "s3cret-key-1",
		},
		{
			"key equal to a stream name", stream + "  - name: second\n    publish_key: main-event\n  - name: main-event\n    publish_key: s3cret-key-3\n",
			`config: streams[1].publish_key: same as the name of streams[2] (names are public, keys are secret)`, "",
		},
		{
			"destination without name", stream + "      - url: rtmp://a.rtmp.youtube.com/live2/backup\n",
			`config: streams[0].destinations[1].name: required`, "",
		},
		{
			"duplicate destination", stream + "      - name: youtube\n        url: rtmp://b.rtmp.youtube.com/live2/abcd-efgh\n",
			`config: streams[0].destinations[1].name: "youtube" is already used by streams[0].destinations[0]`, "",
		},
		{
			"unsupported scheme without the secret",
			stream + "      - name: a\n      - name: b\n        url: whip://ingest.example.com:9000/WHIP-SECRET-KEY\n",
			`config: streams[0].destinations[1].url: required` + "\n" +
				`config: streams[0].destinations[2].url: scheme "whip": write the endpoint's URL with whip+ in front (whip+https://host/path?token=..., or whip+http://)`, "WHIP-SECRET-KEY",
		},
		{
			"WHIP destination without a path, without the secret",
			stream + "      - name: b\n        url: whip+https://ingest.example.com?token=WHIP-SECRET-KEY\n",
			`config: streams[0].destinations[1].url: whip+https://ingest.example.com has no path (want whip+https://ingest.example.com/whip/<stream>?token=...)`, "WHIP-SECRET-KEY",
		},
		{
			"SRT destination without a port, without the secret",
			stream + "      - name: b\n        url: srt://ingest.example.com?streamid=SRT-SECRET-KEY\n",
			`config: streams[0].destinations[1].url: missing host or port (want srt://host:port?streamid=...)`, "SRT-SECRET-KEY",
		},
		{
			"unknown destination shape",
			stream + "      - name: insta\n        url: rtmps://live-upload.instagram.com:443/rtmp/IG-SECRET-KEY\n        shape: 9:16\n",
			`config: streams[0].destinations[1].shape: "9:16": give vertical-crop or vertical-blur, or nothing for the source's picture`, "IG-SECRET-KEY",
		},
		{
			"unparsable URL without the secret",
			stream + "      - name: b\n        url: rtmp://a.rtmp.youtube.com:19x5/live2/YT-SECRET-KEY\n",
			`config: streams[0].destinations[1].url: not a valid URL`, "YT-SECRET-KEY",
		},
		{
			"pasted key instead of a URL", stream + "      - name: b\n        url: \"FB-1234-0-Ab:XyZ\"\n",
			`config: streams[0].destinations[1].url: unsupported scheme (rtmp, rtmps, srt)`, "FB-1234",
		},
		{
			"missing scheme", stream + "      - name: b\n        url: a.rtmp.youtube.com/live2/YT-SECRET-KEY\n",
			`config: streams[0].destinations[1].url: missing scheme (want rtmp://host/app/key, rtmps://host/app/key or srt://host:port?streamid=...)`, "YT-SECRET-KEY",
		},
		{
			"missing host", stream + "      - name: b\n        url: rtmps:///rtmp/FB-SECRET-KEY\n",
			`config: streams[0].destinations[1].url: missing host (want rtmps://host/app/key)`, "FB-SECRET-KEY",
		},
		{
			"missing path", stream + "      - name: b\n        url: rtmps://user:PASSWORD@live-api-s.facebook.com:443\n",
			`config: streams[0].destinations[1].url: rtmps://live-api-s.facebook.com:443 has no path (want rtmps://live-api-s.facebook.com:443/app/key)`, "PASSWORD",
		},
		{
			"several problems at once", "log:\n  level: loud\n  format: xml\n",
			`config: log.level: "loud" is not one of debug, info, warn, error` + "\n" +
				`config: log.format: "xml" is not one of text, json`, "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadAndValidate(t, tt.yaml)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.secret)) {
				t.Errorf("error %q reveals the secret %q", err, tt.secret)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	broken := writeConfig(t, "http:\n  addr: \":8080\"\n bad indent: [\n")
	list := writeConfig(t, "- http\n")
	tests := []struct {
		name     string
		args     []string
		env      []string
		contains []string
	}{
		{"missing --config file", []string{"--config", missing}, nil, []string{"config: ", missing, "no such file"}},
		{"empty --config", []string{"--config="}, nil, []string{"config: --config: empty file name"}},
		{"YAML syntax error", []string{"--config", broken}, nil, []string{"config: " + broken + ": yaml: line "}},
		{"top level not a mapping", []string{"--config", list}, nil, []string{"config: " + list + ": the top level must be a mapping"}},
		{"unknown flag", []string{"--http-adr=:80"}, nil, []string{"config: unknown flag: --http-adr"}},
		{"positional argument", []string{"extra"}, nil, []string{`config: unexpected argument "extra"`}},
		{
			"bad env duration", nil, []string{"BEFFROI_RECONNECT_GRACE=30 seconds"},
			[]string{`config: reconnect_grace: invalid duration "30 seconds" (from BEFFROI_RECONNECT_GRACE)`},
		},
		{
			"bad env boolean", nil, []string{"BEFFROI_RTMP_READ=yes"},
			[]string{`config: rtmp.read: invalid boolean "yes" (from BEFFROI_RTMP_READ; want true or false)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			_, _, err := Load(tt.args, tt.env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	_, _, err := Load([]string{"--help"}, nil)
	if !errors.Is(err, pflag.ErrHelp) {
		t.Errorf("Load(--help) = %v, want pflag.ErrHelp", err)
	}
	usage := FlagUsages()
	for _, flag := range []string{"--config", "--http-addr", "--rtmp-addr", "--rtmps-addr", "--data-dir", "--log-level"} {
		if !strings.Contains(usage, flag) {
			t.Errorf("FlagUsages() does not mention %s:\n%s", flag, usage)
		}
	}
}

// TestReconnectGrace: zero is no grace (the publisher leaving ends the session at once) and
// valid, from the file as from the environment; a negative grace is refused.
func TestReconnectGrace(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        []string
		want       time.Duration
		err        string
	}{
		{name: "default", want: 30 * time.Second},
		{name: "zero with a unit", yaml: "reconnect_grace: 0s\n", want: 0},
		{name: "bare zero", yaml: "reconnect_grace: 0\n", want: 0},
		{name: "zero from the environment", env: []string{"BEFFROI_RECONNECT_GRACE=0s"}, want: 0},
		{name: "a minute", yaml: "reconnect_grace: 1m\n", want: time.Minute},
		{name: "negative", yaml: "reconnect_grace: -1s\n", err: "config: reconnect_grace: must not be negative (got -1s)"},
		{name: "negative from the environment", env: []string{"BEFFROI_RECONNECT_GRACE=-30s"}, err: "config: reconnect_grace: must not be negative (got -30s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			var args []string
			if tt.yaml != "" {
				args = []string{"--config", writeConfig(t, tt.yaml)}
			}
			c, _, err := Load(args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			switch {
			case tt.err != "":
				if err == nil || err.Error() != tt.err {
					t.Errorf("Validate() = %v, want %q", err, tt.err)
				}
			case err != nil:
				t.Errorf("Validate() = %v, want no error", err)
			case c.ReconnectGrace != tt.want:
				t.Errorf("reconnect_grace = %s, want %s", c.ReconnectGrace, tt.want)
			}
		})
	}
}

func TestRTMPSKeyPair(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a")
	_, otherKey := writeKeyPair(t, dir, "b")
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name, cert, key, want string
	}{
		{"valid pair", cert, key, ""},
		{"key of another certificate", cert, otherKey, "config: rtmps.cert and rtmps.key: cannot load the key pair: tls: private key does not match public key"},
		{"missing certificate", missing, key, "config: rtmps.cert: stat " + missing + ": no such file or directory"},
		{"missing key", cert, missing, "config: rtmps.key: stat " + missing + ": no such file or directory"},
		{"certificate as key", cert, cert, "config: rtmps.cert and rtmps.key: cannot load the key pair: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.RTMPS.Cert, c.RTMPS.Key = tt.cert, tt.key
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// writeKeyPair writes a self-signed certificate and its key as PEM files.
func writeKeyPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "beffroi.test"},
		DNSNames:     []string{"beffroi.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestIsEnabled(t *testing.T) {
	on, off := true, false
	for _, tt := range []struct {
		enabled *bool
		want    bool
	}{{nil, true}, {&on, true}, {&off, false}} {
		if got := (Destination{Enabled: tt.enabled}).IsEnabled(); got != tt.want {
			t.Errorf("IsEnabled() with %v = %v, want %v", tt.enabled, got, tt.want)
		}
	}
}

// TestS3KeysFromTheEnvironment: the S3 credentials come from BEFFROI_S3_ACCESS_KEY and
// BEFFROI_S3_SECRET_KEY as well as from their full names (which win).
func TestS3KeysFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(path, []byte("record:\n  storage: s3\n  s3:\n    endpoint: 127.0.0.1:9000\n    bucket: replays\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load([]string{"--config", path}, []string{"BEFFROI_S3_ACCESS_KEY=ak-from-env", "BEFFROI_S3_SECRET_KEY=sk-from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Record.S3.AccessKey != "ak-from-env" || c.Record.S3.SecretKey != "sk-from-env" || !c.Record.S3.UseSSL {
		t.Fatalf("record.s3 = %+v", c.Record.S3)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c, _, err = Load([]string{"--config", path}, []string{"BEFFROI_S3_SECRET_KEY=short", "BEFFROI_RECORD_S3_SECRET_KEY=full-name-wins"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Record.S3.SecretKey != "full-name-wins" {
		t.Fatalf("secret_key = %q, want the BEFFROI_RECORD_S3_SECRET_KEY one", c.Record.S3.SecretKey)
	}
}
