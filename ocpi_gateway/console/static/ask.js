// A small form in a modal <dialog>: what the operator answered, or null when they went back
// (the Back button or Escape). Used where an act needs more than one answer.
'use strict';
import { h } from './dom.js';

// fields: [{ name, label, value, options?: [values], required? }]
export function ask(title, fields, submitLabel) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => (f.options
      ? h('select', { name: f.name },
        f.options.map((o) => h('option', { value: o, selected: o === f.value }, o)))
      : h('input', { name: f.name, value: f.value || '', size: 30,
                     required: f.required || null })));
    const dialog = h('dialog', { class: 'ask' });
    const form = h('form', { method: 'dialog' }, h('h3', {}, title),
      fields.map((f, i) => h('p', {}, h('label', {}, `${f.label} `, inputs[i]))),
      h('p', {}, h('button', { type: 'submit', value: 'ok', class: 'primary' }, submitLabel),
        ' ', h('button', { type: 'button', onclick: () => dialog.close('back') }, 'Back')));
    dialog.append(form);
    dialog.returnValue = '';
    dialog.addEventListener('close', () => {
      const answered = dialog.returnValue === 'ok';
      const values = Object.fromEntries(inputs.map((i) => [i.name, i.value.trim()]));
      dialog.remove();
      resolve(answered ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
