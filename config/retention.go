package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseAge reads a retention age: a Go duration ("720h") or a number of days ("30d").
// "" and "0" mean no limit (0).
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not an age (want a number of days like \"30d\", or a duration like \"720h\")", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not an age (want a number of days like \"30d\", or a duration like \"720h\")", s)
	}
	return d, nil
}

// sizeUnit returns the bytes in one unit of a size (lower case), and whether it is one.
func sizeUnit(unit string) (float64, bool) {
	switch unit {
	case "b":
		return 1, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize reads a size with its unit ("50GiB", "500 GB", "1.5TiB"). "" and "0" mean no
// limit (0).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf("%q is not a size (want a number and a unit, like \"50GiB\" or \"500GB\")", s)
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	unit, ok := sizeUnit(strings.ToLower(strings.TrimSpace(s[i:])))
	if err != nil || !ok || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (want a number and a unit: B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s)
	}
	return int64(n * unit), nil
}

func (c *Config) validateRetention(p *problems) {
	check := func(key, age, size string) {
		if _, err := ParseAge(age); err != nil {
			p.add(key+".max_age", "%v", err)
		}
		if _, err := ParseSize(size); err != nil {
			p.add(key+".max_size", "%v", err)
		}
	}
	r := c.Record.Retention
	check("record.retention", r.MaxAge, r.MaxSize)
	for i, s := range c.Streams {
		sr := s.Record.Retention
		check(fmt.Sprintf("streams[%d].record.retention", i), sr.MaxAge, sr.MaxSize)
	}
}
