import { byId } from './dom.js';

/**
 * The server's --api-key as typed in the page's "API key" field. Kept in sessionStorage only (this tab, until it
 * closes): sent as `Authorization: Bearer KEY` on the page's fetches, and as the WebSocket subprotocol
 * `openai-insecure-api-key.KEY` (browsers cannot set headers on a WebSocket; OpenAI's Realtime API convention).
 */
const STORAGE_KEY = 'unir-serve.api-key';

/** The protocol /v1/stream speaks; the server selects it (docs/websocket.md). */
export const STREAM_PROTOCOL = 'unir-serve';
const API_KEY_PROTOCOL_PREFIX = 'openai-insecure-api-key.';

let entered: (() => void)[] = [];

/** The key typed in this tab, or '' (none, or storage refused). */
export function apiKey(): string {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? '';
  } catch {
    return '';
  }
}

/** The subprotocols the page's WebSocket offers: `unir-serve`, and the key when there is one. */
export function streamProtocols(): string[] {
  const key = apiKey();
  return key ? [STREAM_PROTOCOL, API_KEY_PROTOCOL_PREFIX + key] : [STREAM_PROTOCOL];
}

/** Wires the field: Enter (its form's submit) or leaving a changed field keeps the key and wakes keyEntered(). */
export function initApiKeyField(): void {
  const input = byId<HTMLInputElement>('api-key');
  input.value = apiKey();
  const keep = () => {
    try {
      if (input.value) sessionStorage.setItem(STORAGE_KEY, input.value);
      else sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // storage refused (a privacy setting): the key cannot be kept; requests go without it
    }
    byId('api-key-needed').hidden = true;
    const waiting = entered;
    entered = [];
    for (const wake of waiting) wake();
  };
  byId('api-key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    keep();
  });
  input.addEventListener('change', keep);
}

/** The server answered 401: the page says a key is needed (and why, in the server's words). */
export function showKeyNeeded(serverMessage: string): void {
  const note = byId('api-key-needed');
  note.textContent = `This server needs an API key (its --api-key): type it in the API key field and press Enter. (${serverMessage})`;
  note.hidden = false;
}

/** Resolves when a key is next entered in the field. */
export function keyEntered(): Promise<void> {
  return new Promise((resolve) => entered.push(resolve));
}
