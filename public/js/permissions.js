// Show only what the role may use: elements marked data-permission stay hidden without it (the server refuses too).
import { can } from './auth.js';
import { $$ } from './dom.js';

export function applyPermissions(root = document) {
  for (const node of $$('[data-permission]', root)) {
    const needed = node.dataset.permission.split(' ');
    const allowed = needed.some((permission) => can(permission));
    node.hidden = !allowed;
    if (!allowed && node.matches('form, fieldset, button, input, select, textarea')) node.setAttribute('disabled', '');
  }
}
