// The destination form's picture choice: the source's, or a vertical 9:16 rendition (the
// server's "shape", see README *Vertical destinations*). The stream view hooks it in with
// shapeField(form), which puts the field before the form's switch and returns the function
// that adds the choice to the request body; shapeNote(d) names a destination's shape in its
// line of the list ('' for the source's picture).
import { t } from '../i18n.js';
import { h } from '../core.js';

export function shapeField(form) {
  const sel = h('select', { id: 'dest-shape' },
    h('option', { value: '' }, t('shape.source')),
    h('option', { value: 'vertical-crop' }, t('shape.crop')),
    h('option', { value: 'vertical-blur' }, t('shape.blur')));
  const field = h('div', { class: 'field' }, h('label', { for: 'dest-shape' }, t('shape.label')), sel,
    h('p', { class: 'muted small' }, t('shape.help')));
  const before = form.querySelector('.field.check');
  form.insertBefore(field, before || form.lastChild);
  return (body) => {
    if (sel.value) body.shape = sel.value;
    return body;
  };
}

export function shapeNote(d) {
  if (d.shape === 'vertical-crop') return t('shape.crop');
  if (d.shape === 'vertical-blur') return t('shape.blur');
  return '';
}
