import type { ApiErrorBody, DoneFrame, GenerateMessage, ServerFrame, TokenFrame } from './protocol.js';

export interface GenerationHandlers {
  token(frame: TokenFrame): void;
  done(frame: DoneFrame): void;
  /** An error about this generation: a refusal (nothing follows), or a failure (its done follows). */
  error(error: ApiErrorBody): void;
  /** The socket is at the server's --ws-max-generations: the generate waits until one of the page's generations ends. */
  waiting?(): void;
  /** The generate went out on the socket (again, after waiting), at `at` (performance.now()). */
  sent?(at: number): void;
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

/**
 * One WebSocket to /v1/stream for the whole page: every column's generation runs on it at once, told apart by
 * its id. Opens on first use and again after a close; a close ends the generations in flight with an error.
 *
 * The server runs at most --ws-max-generations generations per socket and refuses a generate beyond that with
 * `too_many_generations` ("wait for one to end"). The page waits: a refused generate is sent again when one of
 * this socket's generations ends (its done), and later ones wait behind it. Cancelled generations hold their
 * slots until their done, so this is also what keeps Run pressed again and again from being refused.
 */
export class StreamClient {
  private socket: WebSocket | null = null;
  private opened: Promise<WebSocket> | null = null;
  private readonly handlers = new Map<string, GenerationHandlers>();
  private readonly messages = new Map<string, GenerateMessage>();
  /** Sent, and neither done nor refused: what holds the server's slots. */
  private readonly inFlight = new Set<string>();
  /** Generations that had a token frame (an error for one of them is a failure, and its done follows). */
  private readonly started = new Set<string>();
  /** Waiting for a slot, in order. */
  private readonly waiting: string[] = [];
  /** Sent a cancel for: if the server refused the generate meanwhile, it is not sent again. */
  private readonly cancelled = new Set<string>();

  constructor(
    private readonly url: string,
    private readonly onState: (state: ConnectionState) => void = () => {},
    /** The subprotocols to offer (read at each open: the API key may have been entered since). */
    private readonly protocols: () => string[] = () => [],
  ) {}

  /** Sends a generate message (or queues it while the socket is at the server's limit); its frames go to `handlers` until its done. */
  async generate(msg: GenerateMessage, handlers: GenerationHandlers): Promise<void> {
    this.handlers.set(msg.id, handlers);
    this.messages.set(msg.id, msg);
    try {
      const socket = await this.open();
      if (!this.messages.has(msg.id)) return; // cancelled or forgotten while the socket opened
      if (this.waiting.length > 0) this.wait(msg.id);
      else this.send(socket, msg);
    } catch (err) {
      this.drop(msg.id);
      handlers.error({ message: (err as Error).message, type: 'network_error', param: null, code: 'connection_failed' });
    }
  }

  /** Asks the server to stop a generation; its done (finish_reason "cancelled") follows. */
  cancel(id: string): void {
    // While the socket opens, after the generate it is waiting to send (promise callbacks run in order).
    this.opened
      ?.then((socket) => {
        // Waiting, never sent: nothing to cancel on the server; it ends here as the server would end it.
        if (this.waiting.includes(id)) this.endCancelled(id);
        else if (this.inFlight.has(id)) {
          this.cancelled.add(id);
          socket.send(JSON.stringify({ type: 'cancel', id }));
        }
      })
      .catch(() => {});
  }

  /** Stops routing frames of `id` (a refused generation: no done will come). */
  forget(id: string): void {
    this.drop(id);
  }

  private endCancelled(id: string): void {
    const handlers = this.handlers.get(id);
    this.drop(id);
    handlers?.done({ type: 'done', id, finish_reason: 'cancelled', stop_reason: null, text: '', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } });
  }

  private send(socket: WebSocket, msg: GenerateMessage): void {
    this.inFlight.add(msg.id);
    socket.send(JSON.stringify(msg));
    this.handlers.get(msg.id)?.sent?.(performance.now());
  }

  private wait(id: string): void {
    this.waiting.push(id);
    this.handlers.get(id)?.waiting?.();
  }

  /** A slot came free (a done): the first waiting generate goes out. */
  private resume(): void {
    const id = this.waiting.shift();
    const msg = id === undefined ? undefined : this.messages.get(id);
    if (msg && this.socket?.readyState === WebSocket.OPEN) this.send(this.socket, msg);
  }

  private drop(id: string): void {
    this.handlers.delete(id);
    this.messages.delete(id);
    this.inFlight.delete(id);
    this.started.delete(id);
    this.cancelled.delete(id);
    const queued = this.waiting.indexOf(id);
    if (queued >= 0) this.waiting.splice(queued, 1);
  }

  private open(): Promise<WebSocket> {
    if (this.opened && this.socket && this.socket.readyState <= WebSocket.OPEN) return this.opened;
    this.onState('connecting');
    // Throws a SyntaxError for a protocol that is not a token (a key with a space or a comma): generate reports it.
    const socket = new WebSocket(this.url, this.protocols());
    this.socket = socket;
    let wasOpen = false;
    this.opened = new Promise((resolve, reject) => {
      socket.addEventListener('open', () => {
        wasOpen = true;
        this.onState('open');
        resolve(socket);
      });
      socket.addEventListener('close', (e) => {
        reject(new Error(`the WebSocket ${this.url} could not be opened (code ${e.code})`));
        this.closed(socket, e, wasOpen);
      });
    });
    socket.addEventListener('message', (e) => this.route(e.data));
    return this.opened;
  }

  private route(data: unknown): void {
    if (typeof data !== 'string') return;
    const frame = JSON.parse(data) as ServerFrame;
    if (frame.id === undefined) return;
    const handlers = this.handlers.get(frame.id);
    if (frame.type === 'token') {
      this.started.add(frame.id);
      handlers?.token(frame);
    } else if (frame.type === 'error') {
      if (this.started.has(frame.id)) return handlers?.error(frame.error); // a failure: its done follows
      // A refusal: the generation never ran. At the limit, with a slot of ours to wait for, it waits for one.
      const wasSent = this.inFlight.delete(frame.id);
      if (wasSent && frame.error.code === 'too_many_generations') {
        // Cancelled before the refusal came back: it ends as cancelled; otherwise it waits for a slot of ours.
        if (this.cancelled.has(frame.id)) return this.endCancelled(frame.id);
        if (this.inFlight.size > 0) return this.wait(frame.id);
      }
      handlers?.error(frame.error);
    } else if (frame.type === 'done') {
      this.drop(frame.id);
      handlers?.done(frame);
      this.resume();
    }
  }

  private closed(socket: WebSocket, e: CloseEvent, wasOpen: boolean): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.opened = null;
    this.onState('closed');
    // The browser says no more than code 1006 when nothing answered: the likely cause, in words.
    const error: ApiErrorBody = wasOpen
      ? { message: `the connection to the server closed (code ${e.code}${e.reason ? `: ${e.reason}` : ''})`, type: 'network_error', param: null, code: 'connection_closed' }
      : { message: `could not connect to ${this.url} (is the server running? A server with --api-key needs the API key above)`, type: 'network_error', param: null, code: 'connection_failed' };
    const all = [...this.handlers.values()];
    for (const id of [...this.handlers.keys()]) this.drop(id);
    for (const handlers of all) handlers.error(error);
  }
}

/** The server refused a field it does not know (a server without attribution, if it checks unknown fields). */
export function refusesField(error: ApiErrorBody, field: string): boolean {
  return error.code === 'invalid_request' && (error.param === field || error.message.includes(field));
}
