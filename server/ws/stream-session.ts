import type { FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { deserializeError, UnirError } from '../../common/errors.js';
import type { DoneEvent, ReturnedToken } from '../../engine/generation-request.js';
import type { AppContext } from '../app-context.js';
import { AttributionFormatter } from '../attribution-format.js';
import { usageOf } from '../choice-collector.js';
import { errorContext, publicError, toUnirError, type ErrorContext } from '../error-response.js';
import { planGeneration } from '../generation-plan.js';
import { GenerationRun } from '../generation-run.js';
import type { GenerationId, WsCancelMessage, WsGenerateMessage } from '../schemas/ws-schema.js';
import { promptIds } from '../prompt-ids.js';
import { StreamBackpressure } from '../stream-backpressure.js';
import { prepareGrammar, requestGrammar } from '../structured-output.js';

/** Backpressure thresholds of a socket's unsent messages, in bytes (characters of JSON). */
const UNSENT_HIGH = 64 * 1024;
const UNSENT_LOW = 16 * 1024;

/** A compiled JSON-schema check (fastify's validator compiler: the same ajv settings as HTTP bodies). */
export type MessageValidator = ((data: unknown) => boolean) & { errors?: unknown[] | null };

export interface MessageValidators {
  generate: MessageValidator;
  cancel: MessageValidator;
}

/**
 * One WebSocket on /v1/stream: runs the generations its client asks for (several at once, up to
 * --ws-max-generations), streams their tokens, cancels one on {type: 'cancel'} and all of them when the
 * socket closes. A bad message gets an error message; the socket stays open.
 */
export class StreamSession {
  private readonly running = new Map<string, AbortController>();
  private readonly errors: ErrorContext;
  private readonly runs = new Set<GenerationRun>();
  private readonly backpressure: StreamBackpressure;
  /** Bytes handed to ws and not yet written to the socket. */
  private unsent = 0;

  constructor(
    private readonly ctx: AppContext,
    private readonly socket: WebSocket,
    private readonly validators: MessageValidators,
    req: FastifyRequest,
  ) {
    this.errors = errorContext(req);
    const runs = this.runs;
    this.backpressure = new StreamBackpressure(
      { setPaused: (paused) => runs.forEach((r) => r.setPaused(paused)) },
      ctx.options.streamWriteTimeout * 1000,
      req.log,
      { remoteAddress: req.ip },
      () => socket.terminate(),
    );
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('close', () => {
      this.backpressure.close();
      for (const controller of this.running.values()) controller.abort();
    });
  }

  /** Generations running on this socket. */
  get inFlight(): number {
    return this.running.size;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.sendError(null, new UnirError('invalid_request', 'send JSON text messages, not binary ones'));
    let msg: unknown;
    try {
      msg = JSON.parse(rawText(data));
    } catch (err) {
      return this.sendError(null, new UnirError('invalid_request', `the message is not valid JSON: ${(err as Error).message}`));
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) {
      return this.sendError(null, new UnirError('invalid_request', 'a message must be a JSON object with a "type" ("generate" or "cancel")', 'type'));
    }
    const m = msg as Record<string, unknown>;
    const id = isId(m.id) ? m.id : null;
    if (m.type === 'generate') return this.generate(m, id);
    if (m.type === 'cancel') return this.cancel(m, id);
    this.sendError(id, new UnirError('invalid_request', `unknown message type ${JSON.stringify(m.type)}: send "generate" or "cancel"`, 'type'));
  }

  private generate(msg: Record<string, unknown>, id: GenerationId | null): void {
    const { generate } = this.validators;
    if (Array.isArray(msg.prompt) && msg.prompt.some((p) => typeof p !== 'number')) {
      // A list of prompts, as /v1/completions takes (Ajv alone said "'prompt.0' must be an integer").
      return this.sendError(id, new UnirError('invalid_request', 'a generate message takes one prompt (a string or an array of token ids): send one message per prompt', 'prompt'));
    }
    if (!generate(msg)) return this.sendError(id, toUnirError(validationError(generate)));
    const body = msg as unknown as WsGenerateMessage;
    const key = keyOf(body.id);
    if (this.running.has(key)) {
      return this.sendError(body.id, new UnirError('invalid_request', `a generation with id ${JSON.stringify(body.id)} is already running on this socket: use a new id`, 'id'));
    }
    const limit = this.ctx.options.wsMaxGenerations;
    if (limit > 0 && this.running.size >= limit) {
      return this.sendError(body.id, new UnirError('too_many_generations', `this socket already runs ${limit} generations (--ws-max-generations): wait for one to end, or open another socket`));
    }
    // The id is taken from now on (a grammar may compile, the prompt be tokenized first): a cancel or a socket close
    // aborts it.
    const controller = new AbortController();
    this.running.set(key, controller);
    void this.start(body, controller).finally(() => this.running.delete(key));
  }

  /** Checks and submits a generation (compiling its grammar first, as /v1/completions does), then streams it. */
  private async start(body: WsGenerateMessage, controller: AbortController): Promise<void> {
    let run: GenerationRun;
    let n: number;
    let attribution: AttributionFormatter | null = null;
    try {
      checkUnsupported(body);
      const grammar = requestGrammar(body);
      if (grammar) await prepareGrammar(this.ctx, grammar, body);
      const ids = await promptIds(this.ctx, body.prompt);
      const logprobs = body.logprobs ?? null;
      const plan = planGeneration(this.ctx, { ...body, model: body.model ?? this.ctx.modelId }, [ids], { defaultMaxTokens: 16, logprobs, fromMessages: false });
      for (const r of plan.requests) r.grammar = grammar?.spec ?? null;
      n = plan.requests.length;
      if (body.return_attribution) attribution = new AttributionFormatter(this.ctx.tokenizer, plan.lease.uses, plan.lease.names);
      // Throws queue_full (engine at capacity) or shutting_down; the plan's modules are released then. A cancel
      // that came while the grammar compiled has aborted the signal: the run ends at once, cancelled.
      run = new GenerationRun(this.ctx, plan, 'websocket', controller.signal);
    } catch (err) {
      return this.sendError(body.id, err);
    }
    this.runs.add(run);
    if (this.backpressure.isPaused) run.setPaused(true);
    try {
      await this.stream(body.id, run, n, body.logprobs ?? null, attribution);
    } finally {
      this.runs.delete(run);
    }
  }

  private async stream(id: GenerationId, run: GenerationRun, n: number, logprobs: number | null, attribution: AttributionFormatter | null): Promise<void> {
    const tokenizer = this.ctx.tokenizer;
    // With logprobs, each message lists the tokens whose text it returns (so they spell the text, as on HTTP).
    const logprobsOf = (tokens: ReturnedToken[] | undefined) =>
      logprobs === null
        ? {}
        : {
            logprobs: (tokens ?? []).map((t) => ({
              token: t.returnedText,
              token_id: t.tokenId,
              logprob: t.logprob ?? null,
              top_logprobs: (t.topLogprobs ?? []).map((a) => ({ token: tokenizer.tokenText(a.id), token_id: a.id, logprob: a.logprob })),
            })),
          };
    const dones: (DoneEvent | null)[] = new Array(n).fill(null);
    try {
      for await (const { index, event } of run) {
        if (event.kind === 'token') {
          this.send({
            type: 'token',
            id,
            index,
            text: event.text,
            token_id: event.tokenId,
            ...logprobsOf(event.returnedTokens),
            ...(attribution ? { attribution: [attribution.entry(event)] } : {}),
          });
        } else {
          dones[index] = event;
          if (event.error) this.send({ type: 'error', id, index, error: publicError(deserializeError(event.error), this.errors).error });
        }
      }
    } catch (err) {
      // The engine failed as a whole: the error (logged with its details), then the done (choices not ended say
      // finish_reason "error").
      this.sendError(id, err);
    }
    const choices = dones.map((d, index) => ({
      index,
      text: d?.text ?? '',
      ...logprobsOf(d?.returnedTokens),
      finish_reason: d?.finishReason ?? 'error',
      stop_reason: d?.stopReason ?? null,
    }));
    const { index: _first, ...first } = choices[0];
    this.send({
      type: 'done',
      id,
      ...first,
      ...(n > 1 ? { choices } : {}),
      usage: usageOf(run.promptTokens, dones.map((done) => ({ done }))),
    });
  }

  private cancel(msg: Record<string, unknown>, id: GenerationId | null): void {
    const { cancel } = this.validators;
    if (!cancel(msg)) return this.sendError(id, toUnirError(validationError(cancel)));
    const body = msg as unknown as WsCancelMessage;
    const controller = this.running.get(keyOf(body.id));
    if (!controller) {
      return this.sendError(body.id, new UnirError('not_found', `no generation with id ${JSON.stringify(body.id)} is running on this socket (it may have ended already)`, 'id'));
    }
    // The engine drops the sequences within one step; their done message says finish_reason "cancelled".
    controller.abort();
  }

  private sendError(id: GenerationId | null, err: unknown): void {
    this.send({ type: 'error', ...(id === null ? {} : { id }), error: publicError(err, this.errors).error });
  }

  /** Sends a message; past UNSENT_HIGH bytes not yet written out, the socket's generations pause until it drains. */
  private send(msg: object): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    const data = JSON.stringify(msg);
    this.unsent += data.length;
    this.socket.send(data, () => {
      this.unsent -= data.length;
      if (this.unsent <= UNSENT_LOW) this.backpressure.drained();
    });
    if (this.unsent > UNSENT_HIGH) this.backpressure.blocked();
  }
}

/** What /v1/completions refuses, refused alike (echo has no meaning on a token stream). */
function checkUnsupported(body: WsGenerateMessage): void {
  if (body.suffix !== null && body.suffix !== undefined) throw new UnirError('invalid_request', 'suffix is not supported', 'suffix');
  if (body.best_of !== null && body.best_of !== undefined && body.best_of !== (body.n ?? 1)) {
    throw new UnirError('invalid_request', 'best_of must equal n (only n choices are generated)', 'best_of');
  }
  if (body.echo) throw new UnirError('invalid_request', 'echo is not supported on /v1/stream: the client has the prompt already', 'echo');
}

/** The shape toUnirError maps as it maps fastify's body validation errors ('param' must be ...). */
function validationError(v: MessageValidator): unknown {
  return { validation: v.errors ?? [], validationContext: 'message' };
}

function isId(v: unknown): v is GenerationId {
  return (typeof v === 'string' && v.length > 0 && v.length <= 256) || Number.isSafeInteger(v);
}

/** 1 and "1" are different ids. */
function keyOf(id: GenerationId): string {
  return `${typeof id}:${id}`;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}
