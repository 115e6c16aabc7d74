import OpenAI from 'openai';

export type RequestKind = 'completion' | 'chat' | 'completion-stream' | 'chat-stream';
const KINDS: readonly RequestKind[] = ['completion', 'chat', 'completion-stream', 'chat-stream'];

/** One request of the load, as its client saw it. Times are performance.now() milliseconds. */
export interface RequestRecord {
  id: string;
  kind: RequestKind;
  model: string;
  start: number;
  /** null while in flight. */
  end: number | null;
  ok: boolean;
  error: string | null;
  /** The replica that answered (haproxy's x-unir-replica header); null when no response came. */
  replica: string | null;
}

const PROMPTS: Record<string, string> = { sort: 'sort 5 3 9 1 7=', add: 'add 4821+937=', '': 'sort 8 2 6 4=' };

/**
 * A bounded mixed load through a proxy with the official openai client (no client retries: every failure
 * counts): completions and chat, plain and streaming, in turn, on `concurrency` connections, over the models
 * in `models` (which the test may change while it runs). A request is ok when its answer (or its stream) ends
 * with a finish_reason; an HTTP error, a cut stream or a stream without finish_reason is a failure.
 */
export class MixedLoad {
  readonly records: RequestRecord[] = [];
  models: string[];
  private readonly client: OpenAI;
  private running = false;
  private workers: Promise<void>[] = [];
  private next = 0;

  constructor(baseUrl: string, models: string[], private readonly opts: { concurrency: number; maxTokens: number; maxRequests: number }) {
    this.client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
    this.models = models;
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.opts.concurrency }, () => this.worker());
  }

  /** Stops sending; resolves when the requests in flight have ended. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  inFlight(): RequestRecord[] {
    return this.records.filter((r) => r.end === null);
  }

  private async worker(): Promise<void> {
    while (this.running && this.records.length < this.opts.maxRequests) {
      const n = this.next++;
      const model = this.models[n % this.models.length];
      const record: RequestRecord = { id: `load-${n}`, kind: KINDS[n % KINDS.length], model, start: performance.now(), end: null, ok: false, error: null, replica: null };
      this.records.push(record);
      try {
        record.ok = await this.send(record);
        if (!record.ok) record.error = 'no finish_reason';
      } catch (err) {
        record.error = (err as Error).message;
      }
      record.end = performance.now();
    }
  }

  private async send(r: RequestRecord): Promise<boolean> {
    const options = { headers: { 'x-request-id': r.id } };
    const content = PROMPTS[r.model.split('+')[1] ?? ''];
    const common = { model: r.model, max_tokens: this.opts.maxTokens, temperature: 0 };
    const seen = (response: Response) => (r.replica = response.headers.get('x-unir-replica'));
    switch (r.kind) {
      case 'completion': {
        const { data, response } = await this.client.completions.create({ ...common, prompt: content }, options).withResponse();
        seen(response);
        return data.choices[0]?.finish_reason != null;
      }
      case 'chat': {
        const { data, response } = await this.client.chat.completions.create({ ...common, messages: [{ role: 'user', content }] }, options).withResponse();
        seen(response);
        return data.choices[0]?.finish_reason != null;
      }
      case 'completion-stream': {
        const { data, response } = await this.client.completions.create({ ...common, prompt: content, stream: true }, options).withResponse();
        seen(response);
        let finished = false;
        for await (const chunk of data) finished ||= chunk.choices.some((c) => c.finish_reason != null);
        return finished;
      }
      case 'chat-stream': {
        const { data, response } = await this.client.chat.completions.create({ ...common, messages: [{ role: 'user', content }], stream: true }, options).withResponse();
        seen(response);
        let finished = false;
        for await (const chunk of data) finished ||= chunk.choices.some((c) => c.finish_reason != null);
        return finished;
      }
    }
  }
}
