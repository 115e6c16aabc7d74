import type { ApiErrorBody, DoneFrame, GenerateMessage, ServerFrame, TokenFrame } from './protocol.js';

export interface GenerationHandlers {
  token(frame: TokenFrame): void;
  done(frame: DoneFrame): void;
  /** An error about this generation: a refusal (nothing follows), or a failure (its done follows). */
  error(error: ApiErrorBody): void;
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

/**
 * One WebSocket to /v1/stream for the whole page: every column's generation runs on it at once, told apart by
 * its id. Opens on first use and again after a close; a close ends the generations in flight with an error.
 */
export class StreamClient {
  private socket: WebSocket | null = null;
  private opened: Promise<WebSocket> | null = null;
  private readonly handlers = new Map<string, GenerationHandlers>();

  constructor(
    private readonly url: string,
    private readonly onState: (state: ConnectionState) => void = () => {},
  ) {}

  /** Sends a generate message; its frames go to `handlers` until its done. */
  async generate(msg: GenerateMessage, handlers: GenerationHandlers): Promise<void> {
    this.handlers.set(msg.id, handlers);
    try {
      const socket = await this.open();
      socket.send(JSON.stringify(msg));
    } catch (err) {
      this.handlers.delete(msg.id);
      handlers.error({ message: (err as Error).message, type: 'network_error', param: null, code: 'connection_failed' });
    }
  }

  /** Asks the server to stop a generation; its done (finish_reason "cancelled") follows. */
  cancel(id: string): void {
    // While the socket opens, after the generate it is waiting to send (promise callbacks run in order).
    this.opened?.then((socket) => socket.send(JSON.stringify({ type: 'cancel', id }))).catch(() => {});
  }

  /** Stops routing frames of `id` (a refused generation: no done will come). */
  forget(id: string): void {
    this.handlers.delete(id);
  }

  private open(): Promise<WebSocket> {
    if (this.opened && this.socket && this.socket.readyState <= WebSocket.OPEN) return this.opened;
    this.onState('connecting');
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.opened = new Promise((resolve, reject) => {
      socket.addEventListener('open', () => {
        this.onState('open');
        resolve(socket);
      });
      socket.addEventListener('close', (e) => {
        reject(new Error(`the WebSocket ${this.url} could not be opened (code ${e.code})`));
        this.closed(socket, e);
      });
    });
    socket.addEventListener('message', (e) => this.route(e.data));
    return this.opened;
  }

  private route(data: unknown): void {
    if (typeof data !== 'string') return;
    const frame = JSON.parse(data) as ServerFrame;
    const handlers = frame.id === undefined ? undefined : this.handlers.get(frame.id);
    if (!handlers) return;
    if (frame.type === 'token') handlers.token(frame);
    else if (frame.type === 'error') handlers.error(frame.error);
    else if (frame.type === 'done') {
      this.handlers.delete(frame.id);
      handlers.done(frame);
    }
  }

  private closed(socket: WebSocket, e: CloseEvent): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.opened = null;
    this.onState('closed');
    const reason = `the connection to the server closed (code ${e.code}${e.reason ? `: ${e.reason}` : ''})`;
    for (const handlers of this.handlers.values()) handlers.error({ message: reason, type: 'network_error', param: null, code: 'connection_closed' });
    this.handlers.clear();
  }
}

/** The server refused a field it does not know (a server without attribution, if it checks unknown fields). */
export function refusesField(error: ApiErrorBody, field: string): boolean {
  return error.code === 'invalid_request' && (error.param === field || error.message.includes(field));
}
