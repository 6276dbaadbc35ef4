// The upload state of a recording in object storage (record.storage: s3), shown in its
// card: uploaded, N files waiting, or the last upload error (the files wait on the disk and
// are retried). Nothing is shown when recordings stay on the disk.
import { t } from '../i18n.js';
import { h } from '../core.js';

export function storageLine(r) {
  const s = r.storage;
  if (!s) return null;
  let text = t('rec.storage.uploaded');
  if (s.state === 'error') text = t('rec.storage.error', s.pending, s.error || '');
  else if (s.state !== 'uploaded') text = t('rec.storage.pending', s.pending);
  return h('p', { class: 'muted small rec-storage', 'data-storage': s.state, role: s.state === 'error' ? 'alert' : null }, text);
}
