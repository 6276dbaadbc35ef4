package report

// Texts are the page's and the chart's words in one language.
type Texts struct {
	Lang, Title, ChartTitle, NoData                          string
	HLS, WHEP, Other, All, Peak                              string
	Stream, Event, Start, End, Duration, Live                string
	PeakOwn, PeakAll, Average, Distinct, WatchTime, AvgWatch string
	Platforms, Destination, Platform, Viewers, PlatformAvg   string
	Destinations, Protocol, Host, State, Uptime, Reconnects  string
	Periods, Kind, NoPeriods, Recordings, NoRecordings, Open string
	Download, Exports, Estimates, EstDistinct, EstPlatforms  string
	TimesIn, Standby, Paused, Failover, NoDestinations       string
}

// PeriodName is a period's kind in words.
func (t Texts) PeriodName(kind string) string {
	switch kind {
	case "standby":
		return t.Standby
	case "paused":
		return t.Paused
	case "failover":
		return t.Failover
	}
	return kind
}

var english = Texts{ //nolint:gochecknoglobals // read-only
	Lang: "en", Title: "Event report", ChartTitle: "Concurrent viewers by source and platform", NoData: "Not enough samples for a chart yet",
	HLS: "HLS (our pages)", WHEP: "WebRTC (our pages)", Other: "RTMP players", All: "All", Peak: "Peak",
	Stream: "Stream", Event: "Event", Start: "Start", End: "End", Duration: "Duration", Live: "live now",
	PeakOwn: "Peak, our viewers", PeakAll: "Peak, everywhere", Average: "Average concurrent viewers (ours)",
	Distinct: "Distinct viewers (ours)", WatchTime: "Total watch time", AvgWatch: "Average watch time",
	Platforms: "Platforms", Destination: "Destination", Platform: "Platform", Viewers: "Peak viewers", PlatformAvg: "Average",
	Destinations: "Destinations", Protocol: "Protocol", Host: "Host", State: "Last state", Uptime: "Uptime", Reconnects: "Reconnects",
	Periods: "Standby and failover", Kind: "Kind", NoPeriods: "None: the picture never left the source.",
	Recordings: "Recording", NoRecordings: "No recording of this event.", Open: "open in the console",
	Download: "download MP4", Exports: "Exports", Estimates: "Estimates",
	EstDistinct:  "Distinct viewers on HLS are counted by session: a viewer who opens the page in a second browser counts twice, and beyond 8192 the figure is estimated (within about 1%).",
	EstPlatforms: "Platform figures are the platforms' own counts, read every poll (30 s by default): a peak between two reads is not seen.",
	TimesIn:      "Times in", Standby: "Standby picture (source away)", Paused: "On standby (operator)",
	Failover: "Backup source", NoDestinations: "No destination.",
}

var french = Texts{ //nolint:gochecknoglobals // read-only
	Lang: "fr", Title: "Bilan de l'événement", ChartTitle: "Spectateurs simultanés par source et plateforme", NoData: "Pas encore assez de mesures pour un graphique",
	HLS: "HLS (nos pages)", WHEP: "WebRTC (nos pages)", Other: "Lecteurs RTMP", //nolint:misspell // French
	All: "Total", Peak: "Pic",
	Stream: "Flux", Event: "Événement", Start: "Début", End: "Fin", Duration: "Durée", Live: "en direct",
	PeakOwn: "Pic, nos spectateurs", PeakAll: "Pic, toutes plateformes", Average: "Spectateurs simultanés en moyenne (les nôtres)",
	Distinct: "Spectateurs distincts (les nôtres)", WatchTime: "Temps de visionnage total", AvgWatch: "Temps de visionnage moyen",
	Platforms: "Plateformes", Destination: "Destination", Platform: "Plateforme", Viewers: "Pic de spectateurs", PlatformAvg: "Moyenne",
	Destinations: "Destinations", Protocol: "Protocole", Host: "Hôte", State: "Dernier état", Uptime: "Temps en ligne", Reconnects: "Reconnexions",
	Periods: "Attente et secours", Kind: "Nature", NoPeriods: "Aucune : l'image n'a jamais quitté la source.",
	Recordings: "Enregistrement", NoRecordings: "Pas d'enregistrement de cet événement.", Open: "ouvrir dans la console",
	Download: "télécharger le MP4", Exports: "Exports", Estimates: "Estimations",
	EstDistinct:  "Les spectateurs HLS distincts sont comptés par session : qui ouvre la page dans un second navigateur compte deux fois, et au-delà de 8192 le chiffre est estimé (à 1 % près).",
	EstPlatforms: "Les chiffres des plateformes sont leurs propres comptes, relevés à chaque interrogation (toutes les 30 s par défaut) : un pic entre deux relevés n'est pas vu.",
	TimesIn:      "Heures en", Standby: "Image d'attente (source absente)", Paused: "Mis en attente (opérateur)",
	Failover: "Source de secours", NoDestinations: "Aucune destination.",
}

// Lang returns the texts of a language: "fr" or "en" (anything else is English).
func Lang(code string) Texts {
	if code == "fr" {
		return french
	}
	return english
}
