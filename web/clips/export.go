package clips

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// job is one export: what to cut and how, and where the MP4 goes.
type job struct {
	Parts   []part
	Shape   Shape
	Caption string // already checked: printable, at most maxCaption runes
	Logo    string // path of the logo PNG, or ""
	Font    string // path of the caption's font
	Out     string // the MP4 to write
	Tmp     string // a directory for the caption file
}

// media is what ffprobe says of an init segment.
type media struct {
	Width, Height int
	Audio         bool
	Video         bool
}

// probe reads an init segment's tracks (a few hundred bytes).
func probe(ctx context.Context, ffprobe, init string) (media, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_entries", "stream=codec_type,width,height",
		"-of", "json", "file:"+init).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return media{}, fmt.Errorf("ffprobe %s: %s", filepath.Base(init), cleanLine(lastLine(string(ee.Stderr)), filepath.Dir(init)))
		}
		return media{}, fmt.Errorf("ffprobe: %w", err)
	}
	var v struct {
		Streams []struct {
			Type   string `json:"codec_type"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return media{}, fmt.Errorf("ffprobe %s: %w", filepath.Base(init), err)
	}
	var m media
	for _, s := range v.Streams {
		switch s.Type {
		case "video":
			if !m.Video {
				m.Video, m.Width, m.Height = true, s.Width, s.Height
			}
		case "audio":
			m.Audio = true
		}
	}
	return m, nil
}

// outFPS is the clips' frame rate: what the platforms recommend for stories.
const outFPS = 30

// args returns ffmpeg's arguments for j, whose parts' tracks are ms (one per part), and the
// output size. Each part is one input (its init segment and media segments joined by the
// concat protocol: only those files are read); it is trimmed to its window, rebased to 0,
// cropped to the shape and scaled, and the parts are joined by the concat filter, so a
// discontinuity, with its own timestamps and parameters, keeps audio and video together.
func (j job) args(ms []media) ([]string, int, int, error) {
	if len(j.Parts) == 0 || len(ms) != len(j.Parts) {
		return nil, 0, 0, errors.New("nothing to export")
	}
	// The size: the shape's, or that of the largest source part if it is smaller.
	ow, oh := 0, 0
	for _, m := range ms {
		if !m.Video {
			return nil, 0, 0, errors.New("the recording has no video at this point")
		}
		w, h := outputSize(j.Shape, m.Width, m.Height)
		if w*h > ow*oh {
			ow, oh = w, h
		}
	}
	args := []string{"-nostdin", "-v", "error", "-y"}
	var graph []string
	var joins strings.Builder
	input := 0
	for i, p := range j.Parts {
		files := append([]string{p.Init}, p.Segments...)
		for _, f := range files {
			if strings.ContainsAny(f, "|") {
				return nil, 0, 0, fmt.Errorf("a media file name holds '|': %s", filepath.Base(f))
			}
		}
		args = append(args, "-i", "concat:"+strings.Join(files, "|"))
		v := input
		a := input
		input++
		if !ms[i].Audio {
			// Silence, so every clip has the audio track the platforms expect.
			args = append(args, "-f", "lavfi", "-t", num(p.To-p.From+1), "-i", "anullsrc=r=48000:cl=stereo")
			a = input
			input++
		}
		m := ms[i]
		cw, ch := m.Width, m.Width*j.Shape.Height/j.Shape.Width
		if ch > m.Height {
			cw, ch = m.Height*j.Shape.Width/j.Shape.Height, m.Height
		}
		graph = append(graph,
			// fps before trim: after it, fps waits for the input's end and repeats the last
			// frame up to there.
			fmt.Sprintf("[%d:v:0]fps=%d,trim=start=%s:end=%s,setpts=PTS-%s/TB,crop=%d:%d,scale=%d:%d,setsar=1,format=yuv420p[v%d]",
				v, outFPS, num(p.From), num(p.To), num(p.From), cw&^1, ch&^1, ow, oh, i))
		aFrom, aTo := p.From, p.To
		if !ms[i].Audio {
			aFrom, aTo = 0, p.To-p.From
		}
		graph = append(graph,
			// Both tracks rebased by the same amount: their offset stays as recorded.
			fmt.Sprintf("[%d:a:0]atrim=start=%s:end=%s,asetpts=PTS-%s/TB,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a%d]",
				a, num(aFrom), num(aTo), num(aFrom), i))
		fmt.Fprintf(&joins, "[v%d][a%d]", i, i)
	}
	graph = append(graph, fmt.Sprintf("%sconcat=n=%d:v=1:a=1[vc][ac]", joins.String(), len(j.Parts)))
	last := "vc"
	if j.Logo != "" {
		lw := max(ow/5, 16) &^ 1
		margin := ow / 30
		args = append(args, "-i", "file:"+j.Logo)
		graph = append(graph, fmt.Sprintf("[%d:v:0]scale=%d:-2[logo]", input, lw),
			fmt.Sprintf("[%s][logo]overlay=x=W-w-%d:y=%d:format=auto,format=yuv420p[vl]", last, margin, margin))
		last = "vl"
	}
	if j.Caption != "" {
		fs := min(ow, oh) / 16
		text := wrap(j.Caption, max(8, ow*9/10/(fs*6/10)))
		path := filepath.Join(j.Tmp, "caption.txt")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, 0, 0, err
		}
		// The text goes in a file (textfile), so nothing in it is parsed by the filter
		// graph; expansion=none keeps '%' literal. Only the two paths are escaped.
		graph = append(graph, fmt.Sprintf("[%s]drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=%d:fontcolor=white:"+
			"box=1:boxcolor=black@0.55:boxborderw=%d:line_spacing=%d:x=(w-text_w)/2:y=h-text_h-h/6[vt]",
			last, escapeValue(j.Font), escapeValue(path), fs, fs/3, fs/4))
		last = "vt"
	}
	args = append(args, "-filter_complex", strings.Join(graph, ";"),
		"-map", "["+last+"]", "-map", "[ac]",
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
		"-crf", "21", "-maxrate", "8M", "-bufsize", "16M", "-g", strconv.Itoa(2*outFPS),
		"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
		"-movflags", "+faststart", "-f", "mp4",
		"-progress", "pipe:1", "-nostats", j.Out)
	return args, ow, oh, nil
}

// num writes seconds for a filter option, to the microsecond.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// escapeValue makes s one filter option value inside a filter graph: quoted for the
// option parser (a quote inside becomes '\”), then backslash-escaped for the graph
// parser, as ffmpeg-filters(1) "Notes on filtergraph escaping" describes.
func escapeValue(s string) string {
	quoted := "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	var b strings.Builder
	for _, r := range quoted {
		if strings.ContainsRune(`\'[],;`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// wrap breaks text into lines of at most width runes, at spaces where it can; the
// operator's own line breaks stay.
func wrap(text string, width int) string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			for utf8.RuneCountInString(w) > width {
				if line != "" {
					out = append(out, line)
					line = ""
				}
				r := []rune(w)
				out = append(out, string(r[:width]))
				w = string(r[width:])
			}
			switch {
			case line == "":
				line = w
			case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
				line += " " + w
			default:
				out = append(out, line)
				line = w
			}
		}
		out = append(out, line)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// progressReader reads ffmpeg's -progress output and reports the share done.
func readProgress(r io.Reader, total float64, report func(float64)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || k != "out_time_us" {
			continue
		}
		us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || us < 0 || total <= 0 {
			continue
		}
		report(min(1, float64(us)/1e6/total))
	}
}

// tail keeps the last lines ffmpeg wrote on stderr, bounded.
type tail struct {
	lines []string
}

func (t *tail) Write(b []byte) (int, error) {
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			t.lines = append(t.lines, l)
			if len(t.lines) > 20 {
				t.lines = t.lines[1:]
			}
		}
	}
	return len(b), nil
}

// aftermath reports whether l is one of the lines ffmpeg writes after the error that
// stopped it, which say nothing of its cause.
func aftermath(l string) bool {
	for _, a := range []string{"Error marking filters as finished", "Conversion failed!", "Error while filtering",
		"Error while processing the decoded data", "Nothing was written into output file", "Error closing file"} {
		if strings.HasPrefix(l, a) {
			return true
		}
	}
	return false
}

// last returns ffmpeg's last line that names the problem.
func (t *tail) last() string {
	for i := len(t.lines) - 1; i >= 0; i-- {
		l := t.lines[i]
		if !aftermath(l) {
			return l
		}
	}
	if len(t.lines) > 0 {
		return t.lines[len(t.lines)-1]
	}
	return ""
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// cleanLine makes one line of ffmpeg's stderr fit for the API and console: no path of the
// server's disk (dirs become their base names), no control characters, bounded.
func cleanLine(s string, dirs ...string) string {
	for _, d := range dirs {
		if d != "" && d != "." && d != "/" {
			s = strings.ReplaceAll(s, d+string(filepath.Separator), "")
			s = strings.ReplaceAll(s, d, filepath.Base(d))
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "..."
	}
	if s == "" {
		s = "ffmpeg failed without saying why"
	}
	return s
}

// run runs ffmpeg with args (under nice when there is one), reporting progress, and
// returns ffmpeg's peak memory (resident, bytes), or its last error line, cleaned, when it
// fails.
func run(ctx context.Context, ffmpeg string, args []string, total float64, report func(float64), dirs ...string) (int64, error) {
	name := ffmpeg
	if nice, err := exec.LookPath("nice"); err == nil {
		// Live relaying comes first: the export takes what CPU is left.
		args = append([]string{"-n", "10", ffmpeg}, args...)
		name = nice
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var errs tail
	cmd.Stderr = &errs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("ffmpeg: %w", err)
	}
	readProgress(stdout, total, report)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if err != nil {
		return 0, errors.New(cleanLine(errs.last(), dirs...))
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // Linux counts kilobytes
	}
	return rss, nil
}
