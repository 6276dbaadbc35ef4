package config

import (
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	c, err := loadAndValidate(t, `
record:
  retention:
    max_age: 30d
    max_size: 1.5 GiB
streams:
  - name: council
    publish_key: council-secret-key
    record:
      retention:
        max_age: "0"
        keep_published: false
`)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Record.Retention
	if age, _ := ParseAge(r.MaxAge); age != 30*24*time.Hour {
		t.Errorf("max_age %q = %v", r.MaxAge, age)
	}
	if size, _ := ParseSize(r.MaxSize); size != 3<<29 {
		t.Errorf("max_size %q = %d", r.MaxSize, size)
	}
	if !r.KeepPublished {
		t.Error("keep_published is true by default")
	}
	sr := c.Streams[0].Record.Retention
	if sr.MaxAge != "0" || sr.KeepPublished == nil || *sr.KeepPublished {
		t.Errorf("stream override: %+v", sr)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"record:\n  retention:\n    max_age: 30 days\n", `config: record.retention.max_age: "30 days" is not an age (want a number of days like "30d", or a duration like "720h")`},
		{"record:\n  retention:\n    max_size: \"50\"\n", `config: record.retention.max_size: "50" is not a size (want a number and a unit, like "50GiB" or "500GB")`},
		{"record:\n  retention:\n    max_size: 5 parsecs\n", `config: record.retention.max_size: "5 parsecs" is not a size (want a number and a unit: B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)`},
		{"record:\n  retention:\n    keep_published: sometimes\n", `config: record.retention.keep_published: must be true or false, not "sometimes"`},
		{"record:\n  retention:\n    max_days: 3\n", `config: unknown key "record.retention.max_days"`},
		{"streams:\n  - name: main\n    publish_key: main-secret-key\n    record:\n      retention:\n        max_age: -1d\n",
			`config: streams[0].record.retention.max_age: "-1d" is not an age (want a number of days like "30d", or a duration like "720h")`},
	} {
		_, err := loadAndValidate(t, tt.yaml)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got %v\nwant %s", tt.yaml, err, tt.want)
		}
	}
}
