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

// parsePages parses the public pages' templates.
func parsePages() (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{"t": tr}).ParseFS(ui, "ui/*.html")
}

// tr is the pages' text for key in lang ("en" or "fr"), English when lang is another.
func tr(lang, key string) string {
	en, fr := text(key)
	if lang == "fr" {
		return fr
	}
	return en
}

// text is the pages' text for key, in English and in French.
func text(key string) (en, fr string) {
	switch key {
	case "replays":
		return "Replays", "Rediffusions"
	case "none":
		return "No replay published yet.", "Aucune rediffusion publiée pour l'instant."
	case "duration":
		return "Duration", "Durée"
	case "play":
		return "Play", "Lecture"
	case "pause":
		return "Pause", "Pause"
	case "back":
		return "Back 10 seconds", "Reculer de 10 secondes"
	case "forward":
		return "Forward 10 seconds", "Avancer de 10 secondes"
	case "download":
		return "Download the MP4", "Télécharger le MP4"
	case "embed":
		return "Embed on a website", "Intégrer sur un site"
	case "all":
		return "All replays", "Toutes les rediffusions"
	case "player":
		return "Replay player", "Lecteur de rediffusion"
	case "watch":
		return "Watch", "Regarder"
	case "lang":
		return "Français", "English"
	case "langcode":
		return "fr", "en"
	case "noplay":
		return "This browser cannot play the stream: download the MP4.", "Ce navigateur ne peut pas lire le flux : téléchargez le MP4."
	}
	return "", ""
}

// monthName is the name of m in lang ("en" or "fr"), English when lang is another.
func monthName(lang string, m time.Month) string {
	if lang == "fr" {
		return [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}[m-1]
	}
	return m.String()
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
	m := monthName(lang, t.Month())
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
	err := s.pagesErr
	if err == nil {
		err = s.pages.ExecuteTemplate(&buf, name, d)
	}
	if err != nil {
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
	s.render(w, "player.html", pageData{Lang: lang, Replay: view(rec, lang), HLSJS: assets.HLSJS, Origin: s.origin()}, false)
}

// embedPage: GET /embed/replays/{id}, the player alone, for an <iframe> on another site.
func (s *Service) embedPage(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.publishedPage(w, r)
	if !ok {
		return
	}
	lang := language(r)
	s.render(w, "player.html", pageData{Lang: lang, Replay: view(rec, lang), HLSJS: assets.HLSJS, Embed: true, Origin: s.origin()}, true)
}

// origin is the public base URL of the embed code and canonical link (http.public_url), or
// "": the pages are publicly cacheable, so nothing of the request (its Host, which anyone
// sets) goes into them; replays.js then completes the embed code with location.origin.
func (s *Service) origin() string {
	return strings.TrimSuffix(s.PublicURL, "/")
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
