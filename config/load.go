package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// envPrefix starts the name of every environment variable Load reads.
const envPrefix = "BEFFROI_"

// flagKey is a command-line flag that sets a key.
type flagKey struct{ name, key, usage string }

// flagKeys lists the command-line flags that set a key; --config is handled apart.
func flagKeys() []flagKey {
	return []flagKey{
		{"http-addr", "http.addr", "HTTP listen address: console, API, HLS, WHIP/WHEP, /metrics"},
		{"rtmp-addr", "rtmp.addr", `RTMP listen address ("" disables RTMP)`},
		{"rtmps-addr", "rtmps.addr", "RTMPS listen address (runs when rtmps.cert and rtmps.key are set)"},
		{"data-dir", "data_dir", "directory for the database and recordings"},
		{"log-level", "log.level", "log level: debug, info, warn or error"},
		{"log-format", "log.format", "log format: text or json (one JSON object a line)"},
	}
}

// Load reads the configuration. args are the command-line arguments after the program name and
// subcommand (flags only); env is the environment as os.Environ() gives it (so tests can pass
// their own). It returns the path of the file it read ("" when none) for logging.
//
// Precedence, lowest first: Default, the file (--config, else DefaultFile when it exists), the
// BEFFROI_* variables of env, the flags given in args. Unknown keys and values of the wrong type
// are errors naming the key; Load does not call Validate. When args ask for help, the error
// wraps pflag.ErrHelp and FlagUsages describes the flags.
func Load(args []string, env []string) (*Config, string, error) {
	flags := newFlagSet()
	if err := flags.Parse(args); err != nil {
		return nil, "", fmt.Errorf("config: %w", err)
	}
	if flags.NArg() > 0 {
		return nil, "", fmt.Errorf("config: unexpected argument %q (only flags are accepted)", flags.Arg(0))
	}

	v := defaultViper()
	path, data, err := readFile(flags)
	if err != nil {
		return nil, path, err
	}
	if path != "" {
		raw, err := parseYAML(path, data)
		if err != nil {
			return nil, path, err
		}
		// Check before viper sees the map: viper would accept any key, and mapstructure's
		// errors name neither the full path nor the file's own spelling.
		if errs := checkValue("", raw, reflect.TypeFor[Config]()); len(errs) > 0 {
			return nil, path, errors.Join(errs...)
		}
		if err := v.MergeConfigMap(raw); err != nil {
			return nil, path, fmt.Errorf("config: %s: %w", path, err)
		}
	}

	applyEnvAliases(v, env)
	if err := applyEnv(v, env); err != nil {
		return nil, path, err
	}
	if err := applyFlags(v, flags); err != nil {
		return nil, path, err
	}

	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, path, fmt.Errorf("config: %w", err)
	}
	return &c, path, nil
}

// defaultViper returns a viper holding Default as its defaults, one per scalar key.
func defaultViper() *viper.Viper {
	v := viper.New()
	for _, l := range leaves() {
		v.SetDefault(l.key, l.def)
	}
	return v
}

// FlagUsages describes the flags Load accepts, one per line, for a --help message.
func FlagUsages() string {
	return newFlagSet().FlagUsages()
}

func newFlagSet() *pflag.FlagSet {
	flags := pflag.NewFlagSet("beffroi", pflag.ContinueOnError)
	// Load returns parse errors; printing them here as well would say everything twice.
	flags.SetOutput(io.Discard)
	flags.SortFlags = false
	flags.String("config", "", "configuration file (default "+DefaultFile+" when it exists)")
	def := map[string]any{}
	for _, l := range leaves() {
		def[l.key] = l.def
	}
	for _, f := range flagKeys() {
		// The default is only shown in --help: a flag not given never overrides anything.
		flags.String(f.name, fmt.Sprint(def[f.key]), f.usage)
	}
	return flags
}

// readFile returns the file to read and its content, or "" when there is none.
func readFile(flags *pflag.FlagSet) (string, []byte, error) {
	if flags.Changed("config") {
		path, _ := flags.GetString("config")
		if path == "" {
			return "", nil, errors.New("config: --config: empty file name")
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return path, nil, fmt.Errorf("config: %w", err)
		}
		return path, data, nil
	}
	data, err := os.ReadFile(DefaultFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return DefaultFile, nil, fmt.Errorf("config: %w", err)
	}
	return DefaultFile, data, nil
}

// parseYAML decodes a file into maps with string keys, without the entries left empty
// ("cert:" means the same as no cert line at all).
func parseYAML(path string, data []byte) (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if doc == nil {
		return map[string]any{}, nil
	}
	m, ok := normalize(doc).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("config: %s: the top level must be a mapping of keys (like \"http:\"), not %s", path, describe(doc))
	}
	return m, nil
}

func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e != nil {
				out[k] = normalize(e)
			}
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e != nil {
				out[fmt.Sprint(k)] = normalize(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// applyEnv sets every known key whose BEFFROI_* variable is present in env, even when empty
// (BEFFROI_RTMP_ADDR= disables RTMP).
func applyEnv(v *viper.Viper, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if name, value, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, envPrefix) {
			vars[name] = value // the last one wins, as with os/exec
		}
	}
	for _, l := range leaves() {
		name := envName(l.key)
		s, ok := vars[name]
		if !ok {
			continue
		}
		value, err := parseScalar(l, s, name)
		if err != nil {
			return err
		}
		v.Set(l.key, value)
	}
	return nil
}

// envAliases are the shorter names some secrets are known by in the environment; the
// BEFFROI_* name of the key itself wins when both are set.
func envAliases() map[string]string {
	return map[string]string{
		"BEFFROI_S3_ACCESS_KEY": "record.s3.access_key",
		"BEFFROI_S3_SECRET_KEY": "record.s3.secret_key",
	}
}

// applyEnvAliases sets the keys of envAliases found in env (strings, so nothing to parse).
func applyEnvAliases(v *viper.Viper, env []string) {
	aliases := envAliases()
	for _, kv := range env {
		if name, value, ok := strings.Cut(kv, "="); ok {
			if key, ok := aliases[name]; ok {
				v.Set(key, value)
			}
		}
	}
}

// applyFlags sets the keys of the flags given explicitly, and only those.
func applyFlags(v *viper.Viper, flags *pflag.FlagSet) error {
	byKey := map[string]leaf{}
	for _, l := range leaves() {
		byKey[l.key] = l
	}
	for _, f := range flagKeys() {
		if !flags.Changed(f.name) {
			continue
		}
		s, _ := flags.GetString(f.name)
		value, err := parseScalar(byKey[f.key], s, "--"+f.name)
		if err != nil {
			return err
		}
		v.Set(f.key, value)
	}
	return nil
}

func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// parseScalar converts a string from the environment or a flag to the type of key l; source
// names where the string came from.
func parseScalar(l leaf, s, source string) (any, error) {
	switch {
	case isDuration(l.typ):
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("config: %s: invalid duration %q (from %s)", l.key, s, source)
		}
		return d, nil
	case l.typ.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("config: %s: invalid boolean %q (from %s; want true or false)", l.key, s, source)
		}
		return b, nil
	case l.typ.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("config: %s: invalid number %q (from %s)", l.key, s, source)
		}
		return n, nil
	}
	return s, nil
}

// isDuration reports whether t is time.Duration, which is an int64 to reflect but a string
// ("10s") in the file, the environment and flags.
func isDuration(t reflect.Type) bool {
	return t == reflect.TypeFor[time.Duration]()
}

// leaf is a scalar key of Config: the keys that have a default and can come from the
// environment.
type leaf struct {
	key string
	typ reflect.Type
	def any
}

// leaves lists the scalar keys of Config with their defaults, in declaration order.
func leaves() []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			key := joinKey(prefix, f.Tag.Get("mapstructure"))
			switch {
			case isDuration(f.Type):
				out = append(out, leaf{key, f.Type, v.Field(i).Interface()})
			case f.Type.Kind() == reflect.Struct:
				walk(key, v.Field(i))
			case f.Type.Kind() == reflect.Slice:
				// Lists (streams) come only from the file.
			default:
				out = append(out, leaf{key, f.Type, v.Field(i).Interface()})
			}
		}
	}
	walk("", reflect.ValueOf(*Default()))
	return out
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// checkValue checks a value decoded from the file against the Go type it will fill, and
// returns one error per problem, each naming the key path. It never prints a string value
// that could be a secret (a publish key, a destination URL).
func checkValue(path string, val any, t reflect.Type) []error {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case isDuration(t):
		return checkDuration(path, val)
	case t.Kind() == reflect.Struct:
		return checkStruct(path, val, t)
	case t.Kind() == reflect.Slice:
		list, ok := val.([]any)
		if !ok {
			return []error{fmt.Errorf("config: %s: must be a list, not %s", path, describe(val))}
		}
		var errs []error
		for i, e := range list {
			errs = append(errs, checkValue(fmt.Sprintf("%s[%d]", path, i), e, t.Elem())...)
		}
		return errs
	case t.Kind() == reflect.Bool:
		switch v := val.(type) {
		case bool:
			return nil
		case string:
			if _, err := strconv.ParseBool(v); err == nil {
				return nil
			}
		}
		what := describe(val)
		if s, ok := val.(string); ok {
			what = strconv.Quote(s) // a yes/no setting holds no secret
		}
		return []error{fmt.Errorf("config: %s: must be true or false, not %s", path, what)}
	case t.Kind() == reflect.String:
		switch val.(type) {
		case map[string]any, []any, nil:
			return []error{fmt.Errorf("config: %s: must be a single value, not %s", path, describe(val))}
		}
		return nil
	case t.Kind() == reflect.Int:
		switch v := val.(type) {
		case int, int64, uint64:
			return nil
		case string:
			if _, err := strconv.Atoi(v); err == nil {
				return nil
			}
		}
		return []error{fmt.Errorf("config: %s: must be a whole number, not %s", path, describe(val))}
	}
	return []error{fmt.Errorf("config: %s: no check for type %s", path, t)}
}

func checkStruct(path string, val any, t reflect.Type) []error {
	m, ok := val.(map[string]any)
	if !ok {
		return []error{fmt.Errorf("config: %s: must be a mapping (key: value), not %s", path, describe(val))}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		f, ok := fieldByKey(t, k)
		if !ok {
			errs = append(errs, fmt.Errorf("config: unknown key %q", joinKey(path, k)))
			continue
		}
		errs = append(errs, checkValue(joinKey(path, k), m[k], f.Type)...)
	}
	return errs
}

// fieldByKey finds the field a key fills, ignoring case as viper and mapstructure do.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); strings.EqualFold(f.Tag.Get("mapstructure"), key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func checkDuration(path string, val any) []error {
	switch v := val.(type) {
	case string:
		if _, err := time.ParseDuration(v); err != nil {
			return []error{fmt.Errorf("config: %s: invalid duration %q", path, v)}
		}
		return nil
	case int, int64, uint64, float64:
		// A bare number would silently mean nanoseconds; only 0 is unambiguous.
		if reflect.ValueOf(v).IsZero() {
			return nil
		}
		return []error{fmt.Errorf("config: %s: invalid duration %v (add a unit, e.g. \"%vs\")", path, v, v)}
	}
	return []error{fmt.Errorf("config: %s: invalid duration: %s", path, describe(val))}
}

// describe names the kind of a YAML value; it prints the value itself only for kinds that
// cannot hold a secret.
func describe(val any) string {
	switch v := val.(type) {
	case nil:
		return "empty"
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return strconv.FormatBool(v)
	case int, int64, uint64, float64:
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("a %T", val)
}
