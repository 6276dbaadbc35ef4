package replays

import (
	"fmt"

	"github.com/beffroi/beffroi/config"
)

// PolicyFromConfig turns record.retention and the streams' own record.retention into the
// sweep's policy. A stream's keys that are not set follow record.retention, except max_size:
// a stream's own max_size bounds that stream, record.retention.max_size bounds all of them.
// Errors name the key that is wrong.
func PolicyFromConfig(cfg *config.Config) (Policy, error) {
	g := cfg.Record.Retention
	age, err := config.ParseAge(g.MaxAge)
	if err != nil {
		return Policy{}, fmt.Errorf("record.retention.max_age: %w", err)
	}
	size, err := config.ParseSize(g.MaxSize)
	if err != nil {
		return Policy{}, fmt.Errorf("record.retention.max_size: %w", err)
	}
	p := Policy{Default: Retention{MaxAge: age, MaxSize: size, KeepPublished: g.KeepPublished}}
	for _, s := range cfg.Streams {
		o := s.Record.Retention
		if o == (config.StreamRetention{}) {
			continue
		}
		r := Retention{MaxAge: age, KeepPublished: g.KeepPublished}
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
			p.Streams = map[string]Retention{}
		}
		p.Streams[s.Name] = r
	}
	return p, nil
}
