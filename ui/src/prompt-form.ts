import { apiJson } from './api.js';
import { byId } from './dom.js';

type Mode = 'completion' | 'chat';

function mode(): Mode {
  return byId<HTMLInputElement>('mode-chat').checked ? 'chat' : 'completion';
}

/** Shows the prompt box of the chosen mode (completion: one text; chat: a system and a user message). */
export function initPromptForm(): void {
  const show = () => {
    byId('completion-fields').hidden = mode() !== 'completion';
    byId('chat-fields').hidden = mode() !== 'chat';
  };
  byId('mode-completion').addEventListener('change', show);
  byId('mode-chat').addEventListener('change', show);
  show();
}

/**
 * The prompt every column gets. Completion mode: the text as typed. Chat mode: the messages rendered through
 * the model's chat template by the server (POST /tokenize with messages, vLLM's shape), as token ids, so the
 * columns stream exactly what /v1/chat/completions would generate for these messages.
 */
export async function readPrompt(): Promise<string | number[]> {
  if (mode() === 'completion') return byId<HTMLTextAreaElement>('prompt').value;
  const system = byId<HTMLTextAreaElement>('system').value.trim();
  const user = byId<HTMLTextAreaElement>('user').value;
  const messages = [...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content: user }];
  const { tokens } = await apiJson<{ tokens: number[] }>('/tokenize', { method: 'POST', body: { messages } });
  return tokens;
}
