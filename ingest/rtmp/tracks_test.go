package rtmp

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

// The messages an encoder sends, as gortmplib decodes them (and encodes them, for the tests
// that publish over a connection).

// onMetaData announces the tracks the way OBS and ffmpeg do: a codec ID per track, and no key
// (ffmpeg) or 0 (gortmplib) for a track that is not sent.
func onMetaData(videoID, audioID float64) *message.DataAMF0 {
	obj := amf0.ECMAArray{{Key: "width", Value: 1280.0}, {Key: "framerate", Value: 30.0}}
	if videoID >= 0 {
		obj = append(obj, amf0.ObjectEntry{Key: "videocodecid", Value: videoID})
	}
	if audioID >= 0 {
		obj = append(obj, amf0.ObjectEntry{Key: "audiocodecid", Value: audioID})
	}
	return &message.DataAMF0{ChunkStreamID: 4, MessageStreamID: 0x1000000,
		Payload: []any{"@setDataFrame", "onMetaData", obj}}
}

const noTrack = -1 // onMetaData without the key

func avcHeader() *message.Video {
	sps, pps := testutil.SPS720(), testutil.PPS()
	return &message.Video{
		ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecH264, IsKeyFrame: true, Type: message.VideoTypeConfig,
		AVCConfig: &mp4.AVCDecoderConfiguration{
			AnyTypeBox:           mp4.AnyTypeBox{Type: mp4.BoxTypeAvcC()},
			ConfigurationVersion: 1, Profile: sps[1], ProfileCompatibility: sps[2], Level: sps[3],
			Reserved: 0b111111, LengthSizeMinusOne: 3, Reserved2: 0b111,
			NumOfSequenceParameterSets: 1,
			SequenceParameterSets:      []mp4.AVCParameterSet{{Length: uint16(len(sps)), NALUnit: sps}},
			NumOfPictureParameterSets:  1,
			PictureParameterSets:       []mp4.AVCParameterSet{{Length: uint16(len(pps)), NALUnit: pps}},
		},
	}
}

func aacHeader(t testing.TB) *message.Audio {
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(testutil.ASC()); err != nil {
		t.Fatal(err)
	}
	return &message.Audio{
		ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100, Depth: message.AudioDepth16,
		IsStereo: true, AACType: message.AudioAACTypeConfig, AACConfig: &asc,
	}
}

func videoFrameMsg(t testing.TB, n int) *message.Video {
	key := n%30 == 0
	au, err := h264.AVCC(videoAU(n, key)).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &message.Video{
		ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecH264, IsKeyFrame: key, Type: message.VideoTypeAU,
		DTS: time.Duration(n) * videoStep, AU: au,
	}
}

func audioFrameMsg(n int) *message.Audio {
	return &message.Audio{
		ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100, Depth: message.AudioDepth16,
		IsStereo: true, AACType: message.AudioAACTypeAU,
		DTS: time.Duration(n) * audioStep, AU: audioAU(n),
	}
}

// media returns d of frames, interleaved in timestamp order (30 fps video with a keyframe
// every second, AAC at 48 kHz), video or audio alone when the other is false.
func media(t testing.TB, d time.Duration, video, audio bool) []message.Message {
	var out []message.Message
	for nv, na := 0, 0; ; {
		vd, ad := time.Duration(nv)*videoStep, time.Duration(na)*audioStep
		vOK, aOK := video && vd < d, audio && ad < d
		switch {
		case vOK && (!aOK || vd <= ad):
			out = append(out, videoFrameMsg(t, nv))
			nv++
		case aOK:
			out = append(out, audioFrameMsg(na))
			na++
		default:
			return out
		}
	}
}

func concat(parts ...[]message.Message) []message.Message {
	var out []message.Message
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func msgs(m ...message.Message) []message.Message { return m }

// reached returns how many messages of ms come before the first frame at or past d, plus
// that one: what is read when a wait of d ends.
func reached(ms []message.Message, d time.Duration) int {
	for i, m := range ms {
		if _, dts, ok, _ := mediaOf(m); ok && dts >= d {
			return i + 1
		}
	}
	return -1
}

type sliceReader struct{ ms []message.Message }

func (r *sliceReader) Read() (message.Message, error) {
	if len(r.ms) == 0 {
		return nil, io.EOF
	}
	m := r.ms[0]
	r.ms = r.ms[1:]
	return m, nil
}

// TestTrackProbe: the start of a session ends as soon as the tracks are known, at the
// message that tells, whatever the order; without metadata, one track alone starts after
// aloneWait of media; a track announced but missing is waited for until announcedWait.
func TestTrackProbe(t *testing.T) {
	av := concat(msgs(onMetaData(7, 10), avcHeader(), aacHeader(t)), media(t, 3*time.Second, true, true))
	videoOnlyNoMeta := concat(msgs(avcHeader()), media(t, 3*time.Second, true, false))
	audioOnlyNoMeta := concat(msgs(aacHeader(t)), media(t, 3*time.Second, false, true))
	missingAudio := concat(msgs(onMetaData(7, 10), avcHeader()), media(t, 3*time.Second, true, false))
	mp3 := &message.Audio{Codec: message.CodecMPEG1Audio, DTS: 0, AU: []byte{0xff, 0xfb}}
	opusStart := &message.AudioExSequenceStart{FourCC: message.FourCCOpus,
		OpusConfig: &opus.IDHeader{Version: 1, ChannelCount: 2, InputSampleRate: 48000}}
	tests := []struct {
		name         string
		in           []message.Message
		read         int // messages read when the tracks are known
		video, audio relay.Codec
		err          error
	}{
		{name: "OBS, ffmpeg: metadata, video header, audio header", in: av, read: 3,
			video: relay.H264, audio: relay.AAC},
		{name: "audio header first", in: concat(msgs(onMetaData(7, 10), aacHeader(t), avcHeader()), media(t, time.Second, true, true)),
			read: 3, video: relay.H264, audio: relay.AAC},
		{name: "metadata after the headers", in: concat(msgs(avcHeader(), aacHeader(t), onMetaData(7, 10)), media(t, time.Second, true, true)),
			read: 2, video: relay.H264, audio: relay.AAC},
		{name: "ffmpeg -an: metadata without audiocodecid", in: concat(msgs(onMetaData(7, noTrack), avcHeader()), media(t, time.Second, true, false)),
			read: 2, video: relay.H264},
		{name: "gortmplib without audio: audiocodecid 0", in: concat(msgs(onMetaData(7, 0), avcHeader()), media(t, time.Second, true, false)),
			read: 2, video: relay.H264},
		{name: "audio only with metadata", in: concat(msgs(onMetaData(noTrack, 10), aacHeader(t)), media(t, time.Second, false, true)),
			read: 2, audio: relay.AAC},
		{name: "no metadata, both headers", in: concat(msgs(avcHeader(), aacHeader(t)), media(t, time.Second, true, true)),
			read: 2, video: relay.H264, audio: relay.AAC},
		{name: "no metadata, video only (an audio-less camera)", in: videoOnlyNoMeta,
			read: reached(videoOnlyNoMeta, aloneWait), video: relay.H264},
		{name: "no metadata, audio only", in: audioOnlyNoMeta,
			read: reached(audioOnlyNoMeta, aloneWait), audio: relay.AAC},
		{name: "announced audio never comes", in: missingAudio,
			read: reached(missingAudio, announcedWait), video: relay.H264},
		{name: "audio in a codec not carried (MP3)", in: concat(msgs(onMetaData(7, 2), avcHeader(), mp3), media(t, time.Second, true, false)),
			read: 3, video: relay.H264},
		{name: "enhanced RTMP: AV1 and Opus", in: msgs(onMetaData(float64(message.FourCCAV1), float64(message.FourCCOpus)),
			&message.VideoExSequenceStart{FourCC: message.FourCCAV1}, opusStart),
			read: 3, video: relay.AV1, audio: relay.Opus},
		{name: "multitrack: the second video track is not carried", in: msgs(onMetaData(7, 10), avcHeader(),
			&message.VideoExMultitrack{TrackID: 1, Wrapped: &message.VideoExSequenceStart{FourCC: message.FourCCVP9}}, aacHeader(t)),
			read: 4, video: relay.H264, audio: relay.AAC},
		{name: "nothing carried", in: msgs(onMetaData(noTrack, 2), mp3), err: errNoTrack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil && tt.read <= 0 {
				t.Fatalf("bad case: read %d", tt.read)
			}
			r := &sliceReader{ms: tt.in}
			p := &trackProbe{}
			err := p.run(r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("run: %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got := len(tt.in) - len(r.ms); got != tt.read || len(p.pending) != got {
				t.Errorf("read %d messages (%d pending) before the tracks were known, want %d", got, len(p.pending), tt.read)
			}
			codec := func(k relay.Kind) relay.Codec {
				if tr := p.kinds[k].track; tr != nil {
					return tr.Codec
				}
				return ""
			}
			if codec(relay.Video) != tt.video || codec(relay.Audio) != tt.audio {
				t.Errorf("tracks %q + %q, want %q + %q", codec(relay.Video), codec(relay.Audio), tt.video, tt.audio)
			}
			if p.how == "" {
				t.Error("no reason recorded for the start")
			}
		})
	}
}

// TestTrackProbeBounded: a session that sends messages without ever saying its tracks is
// refused once maxPending messages are held.
func TestTrackProbeBounded(t *testing.T) {
	var in []message.Message
	for range maxPending + 10 {
		in = append(in, &message.DataAMF0{Payload: []any{"onCuePoint"}})
	}
	if err := (&trackProbe{}).run(&sliceReader{ms: in}); err == nil {
		t.Fatal("no error after more than maxPending messages without tracks")
	}
}

// TestPublishStartsAtOnce publishes over a connection with the headers in several orders, then
// only a little media, and then nothing: the stream gets its tracks and a reader that joined
// when the stream went live gets the encoder's first keyframe (gortmplib's Reader, which reads
// 2 s of media first, would have published nothing yet).
func TestPublishStartsAtOnce(t *testing.T) {
	tests := []struct {
		name         string
		headers      []message.Message
		d            time.Duration // media sent
		video, audio bool
	}{
		{"video and audio", msgs(onMetaData(7, 10), avcHeader(), aacHeader(t)), 300 * time.Millisecond, true, true},
		{"audio header first", msgs(onMetaData(7, 10), aacHeader(t), avcHeader()), 300 * time.Millisecond, true, true},
		{"video only", msgs(onMetaData(7, noTrack), avcHeader()), 300 * time.Millisecond, true, false},
		{"video only, no metadata", msgs(avcHeader()), aloneWait + 200*time.Millisecond, true, false},
		{"audio only", msgs(onMetaData(noTrack, 10), aacHeader(t)), 300 * time.Millisecond, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c, err := connect(t, ts.url("rtmp", "/live", publishKey), true, nil)
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			testutil.WaitFor(t, "the stream to go live", func() bool { return ts.state() == relay.Live })
			r := relaytest.Subscribe(t, ts.st)
			for _, m := range concat(tt.headers, media(t, tt.d, tt.video, tt.audio)) {
				if err := c.Write(m); err != nil {
					t.Fatalf("encoder: %v", err)
				}
			}
			var gotVideo, gotAudio bool
			for (tt.video && !gotVideo) || (tt.audio && !gotAudio) {
				f := relaytest.Next(t, r)
				switch k := f.Track.Kind(); {
				case k == relay.Video && !gotVideo:
					if !f.Key || seq(f) != 0 {
						t.Fatalf("first video frame: #%d (key %v), want the encoder's first keyframe #0", seq(f), f.Key)
					}
					gotVideo = true
				case k == relay.Audio && !tt.audio, k == relay.Video && !tt.video:
					t.Fatalf("a %s frame on a stream without that track", k)
				case k == relay.Audio:
					gotAudio = true
				}
			}
			if v := ts.st.Track(relay.Video); (v != nil) != tt.video || (v != nil && v.Width != 1280) {
				t.Errorf("video track %+v, want one: %v", v, tt.video)
			}
			if a := ts.st.Track(relay.Audio); (a != nil) != tt.audio || (a != nil && a.SampleRate != 48000) {
				t.Errorf("audio track %+v, want one: %v", a, tt.audio)
			}
			ts.logs.WaitFor(t, "publisher connected")
		})
	}
}

// TestLateAudioTrack: an encoder without metadata whose audio header comes after the video
// alone started the session gets its audio published as a new track, not a closed connection.
func TestLateAudioTrack(t *testing.T) {
	ts := startServer(t, nil)
	c, err := connect(t, ts.url("rtmp", "/live", publishKey), true, nil)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	testutil.WaitFor(t, "the stream to go live", func() bool { return ts.state() == relay.Live })
	in := concat(msgs(avcHeader()), media(t, aloneWait+100*time.Millisecond, true, false))
	late := aacHeader(t)
	late.DTS = aloneWait + 100*time.Millisecond
	in = append(in, late, audioFrameMsg(30), videoFrameMsg(t, 30))
	for _, m := range in {
		if err := c.Write(m); err != nil {
			t.Fatalf("encoder: %v", err)
		}
	}
	testutil.WaitFor(t, "the audio track", func() bool { return ts.st.Track(relay.Audio) != nil })
	ts.logs.WaitFor(t, "publisher connected")
	if n := ts.logs.Count("publisher disconnected"); n != 0 {
		t.Errorf("the late track closed the session:\n%s", ts.logs.String())
	}
}

// TestVP9Key: keyframes are found from the frame header in every profile; inter frames and
// frames that only show an earlier one are not keyframes.
func TestVP9Key(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		key   bool
	}{
		{"profile 0 keyframe (Chrome)", []byte{
			0x82, 0x49, 0x83, 0x42, 0x00, 0x77, 0xf0, 0x32, 0x34, 0x30,
			0x38, 0x24, 0x1c, 0x19, 0x40, 0x18, 0x03, 0x40, 0x5f, 0xb4}, true},
		{"profile 0 inter frame", []byte{0x86, 0x00}, false},
		// frame_marker, profile 0, show_existing_frame: the bit where a profile 0-2 frame
		// keeps frame_type is frame_to_show_map_idx here.
		{"show existing frame", []byte{0x88}, false},
		// profile 3 has a reserved bit before show_existing_frame: frame_type is one bit
		// further than in profiles 0-2.
		{"profile 3 inter frame", []byte{0xb3, 0x00}, false},
		{"truncated keyframe header", []byte{0x82, 0x49}, false},
		{"not VP9", []byte{0x00, 0x00}, false},
	}
	for _, tt := range tests {
		if got := vp9Key(tt.frame); got != tt.key {
			t.Errorf("%s: key %v, want %v", tt.name, got, tt.key)
		}
	}
}
