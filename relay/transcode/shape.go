package transcode

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/beffroi/beffroi/relay"
)

// Shape is the picture a reader wants instead of the source's: a fixed size, how the source
// fits in it, and the video bitrate. The zero value is the source's picture as it is.
type Shape struct {
	Width, Height int
	// Fit is how a source of another shape fills the picture: "" scales it (the shapes
	// match: a smaller rung of a ladder), "crop" scales it to cover the picture and cuts the
	// middle out, "blur" shows the whole source, scaled to fit, over a blurred copy of itself
	// scaled to cover the picture.
	Fit string
	// Bitrate is the video's, in bit/s; 0 chooses one for the picture's size (see videoBitrate).
	Bitrate int
}

// Fits of Shape.
const (
	FitScale = ""
	FitCrop  = "crop"
	FitBlur  = "blur"
)

// IsZero reports whether s is the source's picture.
func (s Shape) IsZero() bool { return s == Shape{} }

// String names the shape: "720x1280 crop", "1280x720 2500000bit/s"; "" for the zero shape.
func (s Shape) String() string {
	if s.IsZero() {
		return ""
	}
	str := strconv.Itoa(s.Width) + "x" + strconv.Itoa(s.Height)
	if s.Fit != "" {
		str += " " + s.Fit
	}
	if s.Bitrate > 0 {
		str += " " + strconv.Itoa(s.Bitrate) + "bit/s"
	}
	return str
}

// Vertical is the 9:16 picture phone-first platforms (Instagram Live, stories) take.
const verticalW, verticalH = 720, 1280

// Shape names a destination's configuration takes (ParseShape), "" being the source's picture.
const (
	ShapeVerticalCrop = "vertical-crop"
	ShapeVerticalBlur = "vertical-blur"
)

// ShapeNames returns the names ParseShape takes besides "" (for errors and the console).
func ShapeNames() []string { return []string{ShapeVerticalCrop, ShapeVerticalBlur} }

// ParseShape returns the shape a destination option names: "" (or "source") the source's
// picture, "vertical-crop" 720x1280 cut out of the middle of the source, "vertical-blur"
// 720x1280 with the whole source over a blurred fill.
func ParseShape(name string) (Shape, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "source":
		return Shape{}, nil
	case ShapeVerticalCrop:
		return Shape{Width: verticalW, Height: verticalH, Fit: FitCrop}, nil
	case ShapeVerticalBlur:
		return Shape{Width: verticalW, Height: verticalH, Fit: FitBlur}, nil
	}
	return Shape{}, fmt.Errorf("unknown shape %q: give %s, or nothing for the source's picture", name, strings.Join(ShapeNames(), " or "))
}

// valid says what is wrong with s, nil when it can be made.
func (s Shape) valid() error {
	switch {
	case s.IsZero():
		return nil
	case s.Width <= 0 || s.Height <= 0 || s.Width%2 != 0 || s.Height%2 != 0 || s.Width > 4096 || s.Height > 4096:
		return fmt.Errorf("shape %s: the width and height must be even, from 2 to 4096", s)
	case s.Fit != FitScale && s.Fit != FitCrop && s.Fit != FitBlur:
		return fmt.Errorf("shape %s: fit %q is none of crop, blur or nothing", s, s.Fit)
	case s.Bitrate < 0:
		return fmt.Errorf("shape %s: negative bitrate", s)
	}
	return nil
}

// WithShape returns the needs of a reader that takes these codecs in shape s, as the
// rendition made for it is shared: a shaped picture is H.264 with AAC (what every platform
// takes) when the reader accepts them, so that readers of different protocols wanting the
// same shape share one encoder.
func (n Needs) WithShape(s Shape) Needs {
	if s.IsZero() {
		n.Shape = s
		return n
	}
	out := Needs{Video: n.Video, Audio: n.Audio, Shape: s}
	if slices.Contains(n.Video, relay.H264) {
		out.Video = []relay.Codec{relay.H264}
	}
	if slices.Contains(n.Audio, relay.AAC) {
		out.Audio = []relay.Codec{relay.AAC}
	}
	return out
}

// filter is ffmpeg's video filter graph making s of the source (its input on the default
// input pad, as -vf takes it).
func (s Shape) filter() string {
	w, h := s.Width, s.Height
	cover := fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d", w, h, w, h)
	switch s.Fit {
	case FitCrop:
		return cover + ",setsar=1"
	case FitBlur:
		// The fill is blurred at a quarter of the size (cheap), then scaled up; the picture
		// fits inside, centred.
		bw, bh := max(w/4&^1, 2), max(h/4&^1, 2)
		return fmt.Sprintf("split[bg][fg];"+
			"[bg]scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d,boxblur=8:2,scale=%d:%d,setsar=1[fill];"+
			"[fg]scale=%d:%d:force_original_aspect_ratio=decrease,setsar=1[pic];"+
			"[fill][pic]overlay=(W-w)/2:(H-h)/2",
			bw, bh, bw, bh, w, h, w, h)
	}
	return fmt.Sprintf("scale=%d:%d,setsar=1", w, h)
}

// shapeKeyframeExpr makes a shaped rendition's keyframes every 2 s exactly on a steady
// source (platforms such as Instagram want a 2 s GOP): the first frame, then the first frame
// 2 s (less a hundredth, for rounding) after the last keyframe.
const shapeKeyframeExpr = "expr:if(isnan(prev_forced_t),1,gte(t-prev_forced_t,1.99))"
