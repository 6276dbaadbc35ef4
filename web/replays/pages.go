package replays

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/beffroi/beffroi/web/assets"
	"github.com/beffroi/beffroi/web/store"
)

//go:embed ui
var ui embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"t": tr,
}).ParseFS(ui, "ui/*.html"))

// words are the pages' texts, in English and French.
var words = map[string]map[string]string{
	"en": {
		"replays": "Replays", "none": "No replay published yet.", "duration": "Duration",
		"play": "Play", "pause": "Pause", "back": "Back 10 seconds", "forward": "Forward 10 seconds",
		"download": "Download the MP4", "embed": "Embed on a website", "all": "All replays",
		"player": "Replay player", "watch": "Watch", "lang": "Français", "langcode": "fr",
		"noplay": "This browser cannot play the stream: download the MP4.",
	},
	"fr": {
		"replays": "Rediffusions", "none": "Aucune rediffusion publiée pour l'instant.", "duration": "Durée",
		"play": "Lecture", "pause": "Pause", "back": "Reculer de 10 secondes", "forward": "Avancer de 10 secondes",
		"download": "Télécharger le MP4", "embed": "Intégrer sur un site", "all": "Toutes les rediffusions",
		"player": "Lecteur de rediffusion", "watch": "Regarder", "lang": "English", "langcode": "en",
		"noplay": "Ce navigateur ne peut pas lire le flux : téléchargez le MP4.",
	},
}

var months = map[string][]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
}

func tr(lang, key string) string {
	if s, ok := words[lang][key]; ok {
		return s
	}
	return words["en"][key]
}

// language picks French or English: ?lang= first, then the browser's Accept-Language.
func language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "fr" || l == "en" {
		return l
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "fr"):
			return "fr"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "en"
}

func formatDate(t time.Time, lang string) string {
	t = t.Local()
	m := months[lang][t.Month()-1]
	if lang == "fr" {
		return fmt.Sprintf("%d %s %d, %02dh%02d", t.Day(), m, t.Year(), t.Hour(), t.Minute())
	}
	return fmt.Sprintf("%s %d, %d, %02d:%02d", m, t.Day(), t.Year(), t.Hour(), t.Minute())
}

func formatDuration(sec float64) string {
	d := int(sec + 0.5)
	if d >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", d/3600, d/60%60, d%60)
	}
	return fmt.Sprintf("%d:%02d", d/60, d%60)
}

// displayTitle is the operator's title, or the stream and date when there is none.
func displayTitle(r store.Recording, lang string) string {
	if r.Title != "" {
		return r.Title
	}
	return r.Stream + " · " + formatDate(r.Started, lang)
}

// replayView is a recording as the pages show it.
type replayView struct {
	ID, Title, Description, Date, Duration string
	Started                                time.Time
	URLs                                   urlsJSON
}

func view(r store.Recording, lang string) replayView {
	return replayView{ID: r.ID, Title: displayTitle(r, lang), Description: r.Description,
		Date: formatDate(r.Started, lang), Started: r.Started, Duration: formatDuration(r.Duration), URLs: urlsOf(r.ID)}
}

type pageData struct {
	Lang    string
	Replays []replayView
	Replay  replayView
	HLSJS   string
	Embed   bool
	Origin  string
	More    int // offset of the next page of /replays, 0 when none
}

func (s *Service) render(w http.ResponseWriter, name string, d pageData, frameable bool) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		s.log().Error("replays: page", "page", name, "error", err)
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Language", d.Lang)
	w.Header().Set("Vary", "Accept-Language")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !frameable {
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	}
	_, _ = w.Write(buf.Bytes())
}

// listPage: GET /replays, the published recordings, newest first.
func (s *Service) listPage(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.PublishedOnly = true
	recs, total, err := s.Store.List(r.Context(), f)
	if err != nil {
		s.log().Error("replays: listing the catalogue", "error", err)
		http.Error(w, "The replays cannot be listed right now.", http.StatusInternalServerError)
		return
	}
	d := pageData{Lang: lang}
	for _, rec := range recs {
		d.Replays = append(d.Replays, view(rec, lang))
	}
	if p := pageOf(f, len(recs), total); p.NextOffset != nil {
		d.More = *p.NextOffset
	}
	s.render(w, "list.html", d, false)
}

func (s *Service) publishedPage(w http.ResponseWriter, r *http.Request) (store.Recording, bool) {
	id := r.PathValue("id")
	rec, err := s.Store.Get(r.Context(), id)
	if !validID(id) || err != nil || !rec.Published {
		// Unpublished recordings do not exist for the public.
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "Replay not found / Rediffusion introuvable.", http.StatusNotFound)
		return rec, false
	}
	return rec, true
}

// playerPage: GET /replays/{id}.
func (s *Service) playerPage(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.publishedPage(w, r)
	if !ok {
		return
	}
	lang := language(r)
	s.render(w, "player.html", pageData{Lang: lang, Replay: view(rec, lang), HLSJS: assets.HLSJS, Origin: origin(r)}, false)
}

// embedPage: GET /embed/replays/{id}, the player alone, for an <iframe> on another site.
func (s *Service) embedPage(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.publishedPage(w, r)
	if !ok {
		return
	}
	lang := language(r)
	s.render(w, "player.html", pageData{Lang: lang, Replay: view(rec, lang), HLSJS: assets.HLSJS, Embed: true}, true)
}

// origin is the address the browser used, for the embed code the player page shows.
func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// asset: GET /replays/assets/{file}.
func (s *Service) asset(w http.ResponseWriter, r *http.Request) {
	switch f := r.PathValue("file"); f {
	case "replays.js", "replays.css":
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, ui, "ui/"+f)
	default:
		http.NotFound(w, r)
	}
}
