// The "Live" badge in the header: whether the event socket is connected, announced politely.
import { live } from './events.js';
import { $ } from './dom.js';

const LABELS = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };

export function showLiveState() {
  const node = $('#live-state');
  const render = (state) => {
    node.textContent = LABELS[state] || state;
    node.className = `live live-${state}`;
  };
  live.addEventListener('state', (e) => render(e.detail));
  render(live.state);
}
