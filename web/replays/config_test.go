package replays_test

import (
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/web/replays"
)

func TestPolicyFromConfig(t *testing.T) {
	no := false
	cfg := config.Default()
	cfg.Record.Retention = config.Retention{MaxAge: "30d", MaxSize: "100GiB", KeepPublished: true}
	cfg.Streams = []config.Stream{
		{Name: "main"},
		{Name: "council", Record: config.StreamRecord{Retention: config.StreamRetention{MaxAge: "0", KeepPublished: &no}}},
		{Name: "sport", Record: config.StreamRecord{Retention: config.StreamRetention{MaxSize: "10GiB"}}},
	}
	p, err := replays.PolicyFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Default.MaxAge != 30*24*time.Hour || p.Default.MaxSize != 100<<30 || !p.Default.KeepPublished {
		t.Fatalf("default %+v", p.Default)
	}
	if _, ok := p.Streams["main"]; ok {
		t.Fatal("a stream without overrides has its own policy")
	}
	if c := p.Streams["council"]; c.MaxAge != 0 || c.KeepPublished || c.MaxSize != 0 {
		t.Fatalf("council %+v", c)
	}
	// sport keeps the global age and published rule, with a size limit of its own.
	if s := p.Streams["sport"]; s.MaxAge != 30*24*time.Hour || !s.KeepPublished || s.MaxSize != 10<<30 {
		t.Fatalf("sport %+v", s)
	}
}

// TestPolicyFromConfigErrors: a wrong value is an error that names its key (and its stream).
func TestPolicyFromConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		global config.Retention
		stream config.StreamRetention
		want   string
	}{
		{"global age", config.Retention{MaxAge: "soon"}, config.StreamRetention{}, `record.retention.max_age: "soon" is not an age`},
		{"global size", config.Retention{MaxSize: "big"}, config.StreamRetention{}, `record.retention.max_size: "big" is not a size`},
		{"stream age", config.Retention{}, config.StreamRetention{MaxAge: "-1d"}, `streams "sport": record.retention.max_age: "-1d" is not an age`},
		{"stream size", config.Retention{}, config.StreamRetention{MaxSize: "10 parsecs"}, `streams "sport": record.retention.max_size: "10 parsecs" is not a size`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Record.Retention = tt.global
			cfg.Streams = []config.Stream{{Name: "sport", Record: config.StreamRecord{Retention: tt.stream}}}
			_, err := replays.PolicyFromConfig(cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want one starting with %q", err, tt.want)
			}
		})
	}
}
