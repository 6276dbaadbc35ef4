// French and English. The browser's language by default; the header's switch is remembered in
// localStorage. Strings take arguments as {0}, {1}, ...
const STORE = 'beffroi.lang';

const en = {
  managed: 'configuration file', 'managed.help': 'Declared in the configuration file: change or remove it there (its destinations can be switched on and off here).',
  language: 'Language', crumbs: 'Breadcrumbs', skip: 'Skip to content', copy: 'Copy', copied: 'Copied', remove: 'Remove',
  on: 'On', off: 'Off', logout: 'Log out',
  'err.network': 'Beffroi cannot be reached: check the network.',
  'banner.lost': 'Connection to Beffroi lost: reconnecting…',
  'nav.main': 'Main', 'nav.streams': 'Streams', 'nav.recordings': 'Recordings', 'nav.admin': 'Users and tokens',
  'role.admin': 'admin', 'role.operator': 'operator',
  'state.idle': 'idle', 'state.live': 'live', 'state.reconnecting': 'reconnecting', 'state.connecting': 'connecting',
  'state.retrying': 'retrying', 'state.disabled': 'off',
  'login.title': 'Log in', 'login.intro': 'Beffroi: one stream in, every platform out.',
  'login.name': 'User name', 'login.password': 'Password', 'login.submit': 'Log in',
  'login.wrong': 'Wrong user name or password.', 'login.limited': 'Too many failed attempts.',
  'login.first': 'First start: the user is "admin", with the password of BEFFROI_ADMIN_PASSWORD or the one-time password in Beffroi\'s log.',
  'dash.title': 'Streams', 'dash.createHead': 'New stream', 'dash.newName': 'Name (public address)', 'dash.create': 'Create',
  'dash.nameHelp': 'Lower-case letters, digits, "-" or "_". The publish key is shown once, right after.',
  'dash.created': 'Stream {0} created', 'dash.empty': 'No stream yet: create one above.',
  'dash.source': 'Source', 'dash.tracks': 'Codecs', 'dash.keyframes': 'Keyframes', 'dash.viewers': 'Viewers',
  'dash.recording': 'Recording', 'dash.destinations': 'Destinations', 'dash.open': 'Open', 'dash.publish': 'Publish addresses',
  'dash.noSource': 'no publisher', 'dash.since': 'since', 'dash.every': 'every {0} s', 'dash.noDest': 'No destination yet.',
  'dash.viewersNowPeak': '{0} now · peak {1}', 'dash.bitrateChart': 'Incoming bitrate of {0}, last minute',
  'dest.switch': 'Send to {0}', 'dest.remove': 'Remove {0}', 'dest.removeConfirm': 'Remove the destination {0}? Its stream key is forgotten.',
  'dest.retryIn': 'retrying in {0} s', 'dest.reconnects': '{0} reconnections',
  'add.title': 'Add a platform', 'add.platform': 'Platform', 'add.name': 'Name', 'add.server': 'Server',
  'add.ingest': 'Ingest URL', 'add.ingestHelp': 'This platform gives a new URL for each broadcast: paste it.',
  'add.key': 'Stream key', 'add.keyWhere': 'Where to find it:', 'add.enabled': 'Switched on', 'add.submit': 'Add',
  'add.done': 'Destination {0} added',
  'req.vcodec': 'the video is {0}; this platform takes {1}', 'req.acodec': 'the audio is {0}; this platform takes {1} (Beffroi converts Opus to AAC)',
  'req.keyframe': 'a keyframe every {0} s; this platform wants one at least every {1} s',
  'req.size': 'the picture is {0}; this platform takes up to {1}', 'req.fps': '{0} fps; this platform takes up to {1}',
  'req.bitrate': 'the video is {0}; this platform takes up to {1}',
  'st.preview': 'Preview', 'st.audio': 'Audio', 'st.video': 'Video', 'st.source': 'Source', 'st.readers': 'Readers',
  'st.recNone': 'not available on this server', 'st.viewers': 'Viewers', 'st.viewersNow': 'watching now',
  'st.peak': 'peak {0}', 'st.distinct': '{0} distinct', 'st.viewersChart': 'Viewers over time',
  'st.viewersNone': 'No viewer figures yet.', 'st.viewersMissing': 'Viewer counting is not available on this server.',
  'st.log': 'Event log', 'st.noEvents': 'Nothing happened yet.', 'st.danger': 'Delete', 'st.delete': 'Delete this stream',
  'st.deleteConfirm': 'Delete the stream {0} and its destinations? Encoders using its key are refused from now on.',
  'st.missing': 'This stream does not exist (any more).',
  'preview.connecting': 'Connecting…', 'preview.playing': 'Playing', 'preview.unavailable': 'Preview not available on this server',
  'preview.ended': 'Preview interrupted', 'preview.offline': 'The stream is not live', 'preview.stopped': 'Preview stopped',
  'preview.start': 'Start preview', 'preview.stop': 'Stop preview',
  'go.crumb': 'publish', 'go.title': 'Publish to {0}', 'go.encoders': 'Encoders',
  'go.obsServer': 'OBS: server', 'go.obsHelp': 'OBS → Settings → Stream → Service "Custom": this server, and the stream key below.',
  'go.key': 'Stream key (publish key)', 'go.rtmp': 'RTMP URL (Larix, ffmpeg, cameras)',
  'go.rtmpHelp': 'Larix Broadcaster: Connections → new → this URL. ffmpeg: -f flv and this URL.',
  'go.rtmps': 'RTMPS URL (encrypted)', 'go.srt': 'SRT URL', 'go.srtHelp': 'Best on 4G: Larix and hardware encoders.',
  'go.rtsp': 'RTSP URL', 'go.whip': 'WHIP endpoint', 'go.whipHelp': 'Any WHIP client, with the stream key as its bearer token.',
  'go.phone': 'From a phone', 'go.phoneHelp': 'Scan this code with the phone: it opens the go-live page, set for this stream.',
  'go.qrLabel': 'QR code of the go-live page of {0}', 'go.link': 'Go-live link', 'go.open': 'Open the go-live page',
  'go.phoneMasked': 'The QR code holds the key: it is shown with a new key.',
  'go.shownOnce': 'Copy the key now: it is shown this once, and forgotten when you leave this page.',
  'go.masked': 'Publish keys are write-only: they are shown once. To see one, make a new key (the old one stops working for new connections).',
  'go.newKey': 'New key…', 'go.newKeyConfirm': 'Make a new publish key for {0}? A publisher already live goes on; its next connection needs the new key.',
  'go.rotated': 'New key made', 'go.managedKey': 'This stream is declared in the configuration file: its publish key is the publish_key written there.', 'go.hide': 'Hide',
  'rec.title': 'Recordings', 'rec.more': 'More', 'rec.player': 'Recording player', 'rec.close': 'Close', 'rec.titleOf': 'Title of {0}',
  'rec.untitled': 'Untitled', 'rec.rename': 'Rename', 'rec.saved': 'Saved', 'rec.publishOf': 'Publish {0} on the replay pages',
  'rec.published': 'Published', 'rec.private': 'Private', 'rec.page': 'Replay page', 'rec.deleteOf': 'Delete {0}',
  'rec.deleteConfirm': 'Delete the recording {0}? This cannot be undone.', 'rec.busy': 'This recording is still being made: delete it once the broadcast has ended.',
  'rec.play': 'Play', 'rec.download': 'Download MP4', 'rec.count': '{0} recordings', 'rec.none': 'No recording yet.',
  'rec.missing': 'Recordings are not available on this server.',
  'rec.state.recording': 'recording', 'rec.state.paused': 'paused (disk full)', 'rec.state.finished': 'finished',
  'rec.state.interrupted': 'interrupted', 'rec.state.off': 'off', 'rec.state.idle': 'on (waiting for the stream)',
  'adm.title': 'Users and tokens', 'adm.users': 'Users', 'adm.name': 'Name', 'adm.role': 'Role', 'adm.password': 'Password (12 characters or more)',
  'adm.created': 'Created', 'adm.create': 'Create user', 'adm.reset': 'Reset password', 'adm.resetOf': 'Reset the password of {0}',
  'adm.resetPrompt': 'New password for {0} (12 characters or more):', 'adm.resetDone': 'Password of {0} changed',
  'adm.roleOf': 'Role of {0}', 'adm.saved': 'Saved', 'adm.deleteOf': 'Delete {0}', 'adm.deleteConfirm': 'Delete the user {0}?',
  'adm.tokens': 'API tokens', 'adm.tokensHelp': 'For automation: send Authorization: Bearer <token>. A token acts as the admin who made it.',
  'adm.tokenName': 'What it is for', 'adm.tokenPlaceholder': 'scheduler', 'adm.tokenCreate': 'Create token', 'adm.lastUsed': 'Last used',
  'adm.tokenOnce': 'Copy the token now: it is shown this once.', 'adm.tokenDeleteConfirm': 'Delete the token {0}? What uses it is refused from now on.',
  'acc.title': 'Account of {0}', 'acc.password': 'Change my password', 'acc.current': 'Current password',
  'acc.change': 'Change the password', 'acc.changed': 'Password changed: your other sessions are closed.', 'acc.link': 'My account',
  'adm.audit': 'Audit log', 'adm.when': 'When', 'adm.who': 'Who', 'adm.action': 'Action', 'adm.target': 'Target', 'adm.detail': 'Detail',
};

const fr = {
  managed: 'fichier de configuration', 'managed.help': 'Déclaré dans le fichier de configuration : modifiez-le ou retirez-le là (ses destinations s’activent et se coupent ici).',
  language: 'Langue', crumbs: 'Fil d’Ariane', skip: 'Aller au contenu', copy: 'Copier', copied: 'Copié', remove: 'Supprimer',
  on: 'Activé', off: 'Coupé', logout: 'Se déconnecter',
  'err.network': 'Beffroi est injoignable : vérifiez le réseau.',
  'banner.lost': 'Connexion à Beffroi perdue : reconnexion…',
  'nav.main': 'Principal', 'nav.streams': 'Flux', 'nav.recordings': 'Enregistrements', 'nav.admin': 'Utilisateurs et jetons',
  'role.admin': 'admin', 'role.operator': 'opérateur',
  'state.idle': 'inactif', 'state.live': 'en direct', 'state.reconnecting': 'reconnexion', 'state.connecting': 'connexion',
  'state.retrying': 'nouvel essai', 'state.disabled': 'coupé',
  'login.title': 'Connexion', 'login.intro': 'Beffroi : un flux entre, toutes les plateformes le reçoivent.',
  'login.name': 'Nom d’utilisateur', 'login.password': 'Mot de passe', 'login.submit': 'Se connecter',
  'login.wrong': 'Nom d’utilisateur ou mot de passe incorrect.', 'login.limited': 'Trop d’essais manqués.',
  'login.first': 'Premier démarrage : l’utilisateur est « admin », avec le mot de passe de BEFFROI_ADMIN_PASSWORD ou le mot de passe à usage unique du journal de Beffroi.',
  'dash.title': 'Flux', 'dash.createHead': 'Nouveau flux', 'dash.newName': 'Nom (adresse publique)', 'dash.create': 'Créer',
  'dash.nameHelp': 'Minuscules, chiffres, « - » ou « _ ». La clé de publication est montrée une fois, juste après.',
  'dash.created': 'Flux {0} créé', 'dash.empty': 'Aucun flux : créez-en un ci-dessus.',
  'dash.source': 'Source', 'dash.tracks': 'Codecs', 'dash.keyframes': 'Images clés', 'dash.viewers': 'Spectateurs',
  'dash.recording': 'Enregistrement', 'dash.destinations': 'Destinations', 'dash.open': 'Ouvrir', 'dash.publish': 'Adresses de publication',
  'dash.noSource': 'aucun émetteur', 'dash.since': 'depuis', 'dash.every': 'toutes les {0} s', 'dash.noDest': 'Aucune destination.',
  'dash.viewersNowPeak': '{0} maintenant · pic {1}', 'dash.bitrateChart': 'Débit entrant de {0}, dernière minute',
  'dest.switch': 'Diffuser vers {0}', 'dest.remove': 'Supprimer {0}', 'dest.removeConfirm': 'Supprimer la destination {0} ? Sa clé de diffusion est oubliée.',
  'dest.retryIn': 'nouvel essai dans {0} s', 'dest.reconnects': '{0} reconnexions',
  'add.title': 'Ajouter une plateforme', 'add.platform': 'Plateforme', 'add.name': 'Nom', 'add.server': 'Serveur',
  'add.ingest': 'URL d’ingestion', 'add.ingestHelp': 'Cette plateforme donne une URL pour chaque diffusion : collez-la.',
  'add.key': 'Clé de diffusion', 'add.keyWhere': 'Où la trouver :', 'add.enabled': 'Activée', 'add.submit': 'Ajouter',
  'add.done': 'Destination {0} ajoutée',
  'req.vcodec': 'la vidéo est en {0} ; cette plateforme accepte {1}', 'req.acodec': 'le son est en {0} ; cette plateforme accepte {1} (Beffroi convertit l’Opus en AAC)',
  'req.keyframe': 'une image clé toutes les {0} s ; cette plateforme en veut au moins toutes les {1} s',
  'req.size': 'l’image fait {0} ; cette plateforme accepte jusqu’à {1}', 'req.fps': '{0} i/s ; cette plateforme accepte jusqu’à {1}',
  'req.bitrate': 'la vidéo est à {0} ; cette plateforme accepte jusqu’à {1}',
  'st.preview': 'Aperçu', 'st.audio': 'Son', 'st.video': 'Vidéo', 'st.source': 'Source', 'st.readers': 'Lecteurs',
  'st.recNone': 'non disponible sur ce serveur', 'st.viewers': 'Spectateurs', 'st.viewersNow': 'en ce moment',
  'st.peak': 'pic {0}', 'st.distinct': '{0} distincts', 'st.viewersChart': 'Spectateurs au fil du temps',
  'st.viewersNone': 'Pas encore de chiffres.', 'st.viewersMissing': 'Le comptage des spectateurs n’est pas disponible sur ce serveur.',
  'st.log': 'Journal', 'st.noEvents': 'Rien ne s’est encore passé.', 'st.danger': 'Supprimer', 'st.delete': 'Supprimer ce flux',
  'st.deleteConfirm': 'Supprimer le flux {0} et ses destinations ? Les encodeurs qui utilisent sa clé seront refusés.',
  'st.missing': 'Ce flux n’existe pas (ou plus).',
  'preview.connecting': 'Connexion…', 'preview.playing': 'Lecture', 'preview.unavailable': 'Aperçu non disponible sur ce serveur',
  'preview.ended': 'Aperçu interrompu', 'preview.offline': 'Le flux n’est pas en direct', 'preview.stopped': 'Aperçu arrêté',
  'preview.start': 'Lancer l’aperçu', 'preview.stop': 'Arrêter l’aperçu',
  'go.crumb': 'publier', 'go.title': 'Publier vers {0}', 'go.encoders': 'Encodeurs',
  'go.obsServer': 'OBS : serveur', 'go.obsHelp': 'OBS → Paramètres → Stream → Service « Personnalisé » : ce serveur et la clé ci-dessous.',
  'go.key': 'Clé de stream (clé de publication)', 'go.rtmp': 'URL RTMP (Larix, ffmpeg, caméras)',
  'go.rtmpHelp': 'Larix Broadcaster : Connexions → nouvelle → cette URL. ffmpeg : -f flv et cette URL.',
  'go.rtmps': 'URL RTMPS (chiffrée)', 'go.srt': 'URL SRT', 'go.srtHelp': 'Le meilleur choix en 4G : Larix et encodeurs matériels.',
  'go.rtsp': 'URL RTSP', 'go.whip': 'Point d’accès WHIP', 'go.whipHelp': 'Tout client WHIP, avec la clé comme jeton « Bearer ».',
  'go.phone': 'Depuis un téléphone', 'go.phoneHelp': 'Scannez ce code avec le téléphone : il ouvre la page de direct, réglée pour ce flux.',
  'go.qrLabel': 'QR code de la page de direct de {0}', 'go.link': 'Lien de la page de direct', 'go.open': 'Ouvrir la page de direct',
  'go.phoneMasked': 'Le QR code contient la clé : il s’affiche avec une nouvelle clé.',
  'go.shownOnce': 'Copiez la clé maintenant : elle n’est montrée qu’une fois, et oubliée quand vous quittez cette page.',
  'go.masked': 'Les clés de publication ne sont plus lisibles : elles sont montrées une fois. Pour en voir une, créez une nouvelle clé (l’ancienne ne vaut plus pour les nouvelles connexions).',
  'go.newKey': 'Nouvelle clé…', 'go.newKeyConfirm': 'Créer une nouvelle clé de publication pour {0} ? Un émetteur déjà en direct continue ; sa prochaine connexion demandera la nouvelle clé.',
  'go.rotated': 'Nouvelle clé créée', 'go.managedKey': 'Ce flux est déclaré dans le fichier de configuration : sa clé de publication est le publish_key qui y est écrit.', 'go.hide': 'Masquer',
  'rec.title': 'Enregistrements', 'rec.more': 'Plus', 'rec.player': 'Lecteur d’enregistrement', 'rec.close': 'Fermer', 'rec.titleOf': 'Titre de {0}',
  'rec.untitled': 'Sans titre', 'rec.rename': 'Renommer', 'rec.saved': 'Enregistré', 'rec.publishOf': 'Publier {0} sur les pages de replay',
  'rec.published': 'Publié', 'rec.private': 'Privé', 'rec.page': 'Page de replay', 'rec.deleteOf': 'Supprimer {0}',
  'rec.deleteConfirm': 'Supprimer l’enregistrement {0} ? C’est définitif.', 'rec.busy': 'Cet enregistrement est en cours : supprimez-le une fois la diffusion terminée.',
  'rec.play': 'Lire', 'rec.download': 'Télécharger le MP4', 'rec.count': '{0} enregistrements', 'rec.none': 'Aucun enregistrement.',
  'rec.missing': 'Les enregistrements ne sont pas disponibles sur ce serveur.',
  'rec.state.recording': 'en cours', 'rec.state.paused': 'en pause (disque plein)', 'rec.state.finished': 'terminé',
  'rec.state.interrupted': 'interrompu', 'rec.state.off': 'arrêté', 'rec.state.idle': 'prêt (en attente du direct)',
  'adm.title': 'Utilisateurs et jetons', 'adm.users': 'Utilisateurs', 'adm.name': 'Nom', 'adm.role': 'Rôle', 'adm.password': 'Mot de passe (12 caractères ou plus)',
  'adm.created': 'Créé', 'adm.create': 'Créer l’utilisateur', 'adm.reset': 'Nouveau mot de passe', 'adm.resetOf': 'Changer le mot de passe de {0}',
  'adm.resetPrompt': 'Nouveau mot de passe pour {0} (12 caractères ou plus) :', 'adm.resetDone': 'Mot de passe de {0} changé',
  'adm.roleOf': 'Rôle de {0}', 'adm.saved': 'Enregistré', 'adm.deleteOf': 'Supprimer {0}', 'adm.deleteConfirm': 'Supprimer l’utilisateur {0} ?',
  'adm.tokens': 'Jetons d’API', 'adm.tokensHelp': 'Pour l’automatisation : envoyez Authorization: Bearer <jeton>. Un jeton agit comme l’admin qui l’a créé.',
  'adm.tokenName': 'Son usage', 'adm.tokenPlaceholder': 'planificateur', 'adm.tokenCreate': 'Créer un jeton', 'adm.lastUsed': 'Dernier usage',
  'adm.tokenOnce': 'Copiez le jeton maintenant : il n’est montré qu’une fois.', 'adm.tokenDeleteConfirm': 'Supprimer le jeton {0} ? Ce qui l’utilise sera refusé.',
  'acc.title': 'Compte de {0}', 'acc.password': 'Changer mon mot de passe', 'acc.current': 'Mot de passe actuel',
  'acc.change': 'Changer le mot de passe', 'acc.changed': 'Mot de passe changé : vos autres sessions sont fermées.', 'acc.link': 'Mon compte',
  'adm.audit': 'Journal d’audit', 'adm.when': 'Quand', 'adm.who': 'Qui', 'adm.action': 'Action', 'adm.target': 'Cible', 'adm.detail': 'Détail',
};

export const dictionaries = { en, fr };

function initial() {
  try {
    const saved = localStorage.getItem(STORE);
    if (saved === 'fr' || saved === 'en') return saved;
  } catch { /* private mode */ }
  return (navigator.language || 'en').toLowerCase().startsWith('fr') ? 'fr' : 'en';
}

let current = initial();

export function lang() { return current; }

export function setLang(l) {
  current = l === 'fr' ? 'fr' : 'en';
  document.documentElement.lang = current;
  try { localStorage.setItem(STORE, current); } catch { /* private mode */ }
}

// t returns the string of key in the current language, with {n} replaced by args[n].
export function t(key, ...args) {
  const s = dictionaries[current][key] ?? en[key] ?? key;
  return s.replace(/\{(\d+)\}/g, (_, i) => (args[i] ?? ''));
}
