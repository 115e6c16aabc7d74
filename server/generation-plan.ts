import type { ReasonerLease, ReasonerSelection } from '../adapters/reasoner-registry.js';
import { UnirError } from '../common/errors.js';
import type { GenerationRequest } from '../engine/generation-request.js';
import type { SamplingParams } from '../kernels/sampling-params.js';
import type { AppContext } from './app-context.js';
import type { SamplingBody } from './schemas/sampling-schema.js';

/** vLLM's _SAMPLING_EPS: temperatures below it sample greedily. */
const GREEDY_BELOW_TEMPERATURE = 1e-5;

/** A validated request, ready to submit: n sequences per prompt (prompt-major) and the modules they hold. */
export interface GenerationPlan {
  prompts: Int32Array[];
  /** Prompt tokens of every prompt, each counted once (OpenAI's usage.prompt_tokens). */
  promptTokens: number;
  requests: GenerationRequest[];
  lease: ReasonerLease;
  /** The model id as the client sent it (echoed in responses). */
  model: string;
}

export interface PlanOptions {
  /** max_tokens when the request has none: a number, or 'rest' for the rest of the context. */
  defaultMaxTokens: number | 'rest';
  logprobs: number | null;
  /** Whether the prompt came from messages (for the context-length message). */
  fromMessages: boolean;
}

/**
 * Checks a request against the model and builds its engine requests, n per prompt in prompt order (choice p*n + i
 * is prompt p's i-th); holds its modules until released. Choice i of each prompt uses seed + i, so a prompt gives
 * the same text alone or in a list.
 */
export function planGeneration(ctx: AppContext, body: SamplingBody & { model: string }, prompts: Int32Array[], opts: PlanOptions): GenerationPlan {
  const selection = selectReasoners(ctx, body);
  const sampling = samplingOf(body, ctx);
  const n = body.n ?? 1;
  checkCapacity(ctx, prompts.length, n);
  const lease = ctx.registry.acquire(selection);
  try {
    const maxContext = Math.min(ctx.maxContext, lease.maxContext);
    const minTokens = body.min_tokens ?? 0;
    const stop = typeof body.stop === 'string' ? [body.stop] : (body.stop ?? []);
    const reasonerGate = gateOf(body, ctx);
    const attribution = attributionOf(body, ctx);
    const requests = prompts.flatMap((promptIds) => {
      const maxTokens = resolveMaxTokens(body.max_tokens, promptIds.length, maxContext, opts);
      if (minTokens > maxTokens) {
        throw new UnirError('invalid_request', `min_tokens (${minTokens}) must not exceed max_tokens (${maxTokens})`, 'min_tokens');
      }
      return Array.from({ length: n }, (_, i): GenerationRequest => ({
        promptIds,
        maxTokens,
        minTokens,
        sampling,
        seed: body.seed === null || body.seed === undefined ? null : BigInt(body.seed) + BigInt(i),
        stop,
        stopTokenIds: body.stop_token_ids ?? [],
        ignoreEos: body.ignore_eos ?? false,
        logprobs: opts.logprobs,
        reasoners: lease.uses,
        reasonerGate,
        attribution,
      }));
    });
    const promptTokens = prompts.reduce((sum, p) => sum + p.length, 0);
    return { prompts, promptTokens, requests, lease, model: body.model };
  } catch (err) {
    lease.release();
    throw err;
  }
}

/** A request that could never fit is a 400, not a 429 that says to retry. */
function checkCapacity(ctx: AppContext, prompts: number, n: number): void {
  const { maxBatch, maxQueue } = ctx.options;
  if (prompts * n <= maxBatch + maxQueue) return;
  throw new UnirError(
    'invalid_request',
    `this request asks for ${prompts * n} sequences (${prompts} prompt${prompts > 1 ? 's' : ''} x n ${n}); the server holds at most ${maxBatch + maxQueue} at once (--max-batch ${maxBatch} + --max-queue ${maxQueue}): send fewer prompts or a smaller n`,
    prompts > 1 ? 'prompt' : 'n',
  );
}

/** OpenAI: stream_options is "only set when you set stream: true" (its API and vLLM answer 400 otherwise). */
export function checkStreamOptions(body: SamplingBody): void {
  if (body.stream_options !== null && body.stream_options !== undefined && body.stream !== true) {
    throw new UnirError('invalid_request', 'stream_options is only allowed with stream: true', 'stream_options');
  }
}

/** Modules come from the model id (BASE+a+b), the `reasoners` field, or the server's defaults, in that order. */
function selectReasoners(ctx: AppContext, body: SamplingBody & { model: string }): ReasonerSelection[] {
  const [baseId, ...fromName] = body.model.split('+');
  if (baseId !== ctx.modelId) {
    throw new UnirError(
      'model_not_found',
      `The model \`${body.model}\` does not exist: this server serves \`${ctx.modelId}\` (add reasoning modules as ${ctx.modelId}+name)`,
      'model',
    );
  }
  if (fromName.length > 0 && body.reasoners && body.reasoners.length > 0) {
    throw new UnirError('invalid_request', 'name reasoning modules either in the model id or in "reasoners", not both', 'reasoners');
  }
  if (fromName.length > 0) {
    if (fromName.some((n) => n === '')) throw new UnirError('invalid_request', `\`${body.model}\` has an empty module name: write ${ctx.modelId}+name1+name2`, 'model');
    return fromName.map((name) => ({ name }));
  }
  return body.reasoners ?? [...ctx.defaultReasoners];
}

function resolveMaxTokens(requested: number | null | undefined, promptTokens: number, maxContext: number, opts: PlanOptions): number {
  const where = opts.fromMessages ? 'in the messages' : 'in the prompt';
  if (promptTokens >= maxContext) {
    throw new UnirError(
      'context_length_exceeded',
      `This model's maximum context length is ${maxContext} tokens. However, you requested ${promptTokens + (requested ?? 1)} tokens (${promptTokens} ${where}, ${requested ?? 1} for the completion). Please reduce the length of the ${opts.fromMessages ? 'messages' : 'prompt'} or completion.`,
      opts.fromMessages ? 'messages' : 'prompt',
    );
  }
  const rest = maxContext - promptTokens;
  if (requested === null || requested === undefined) return opts.defaultMaxTokens === 'rest' ? rest : Math.min(opts.defaultMaxTokens, rest);
  if (requested > rest) {
    throw new UnirError(
      'context_length_exceeded',
      `This model's maximum context length is ${maxContext} tokens. However, you requested ${promptTokens + requested} tokens (${promptTokens} ${where}, ${requested} for the completion). Please reduce the length of the ${opts.fromMessages ? 'messages' : 'prompt'} or completion.`,
      'max_tokens',
    );
  }
  return requested;
}

/** The request's entropy gate, else the server's; a threshold of 0 opens every step, which is no gate at all. */
function gateOf(body: SamplingBody, ctx: AppContext): { entropy: number } | null {
  const entropy = body.reasoner_gate?.entropy ?? ctx.options.reasonerGate ?? 0;
  if (entropy > 0 && ctx.options.fusionSite === 'device') throw onDevice('reasoner_gate');
  return entropy > 0 ? { entropy } : null;
}

function attributionOf(body: SamplingBody, ctx: AppContext): boolean {
  if (body.return_attribution && ctx.options.fusionSite === 'device') throw onDevice('return_attribution');
  return body.return_attribution === true;
}

/** Both extensions read each model's logits row on the host, which device-side fusion never brings down. */
function onDevice(param: string): UnirError {
  return new UnirError('invalid_request', `${param} needs each model's logits on the host: this server fuses on the device (--fusion-site device)`, param);
}

function samplingOf(body: SamplingBody, ctx: AppContext): SamplingParams {
  const vocab = ctx.engine.base.vocabSize;
  let logitBias: Map<number, number> | null = null;
  if (body.logit_bias) {
    logitBias = new Map();
    for (const [key, bias] of Object.entries(body.logit_bias)) {
      const id = Number(key);
      if (!Number.isSafeInteger(id) || id >= vocab) {
        throw new UnirError('invalid_request', `logit_bias names token id ${key}, outside the vocabulary (0..${vocab - 1})`, 'logit_bias');
      }
      logitBias.set(id, bias);
    }
  }
  for (const id of body.stop_token_ids ?? []) {
    if (id >= vocab) throw new UnirError('invalid_request', `stop_token_ids names token id ${id}, outside the vocabulary (0..${vocab - 1})`, 'stop_token_ids');
  }
  // A field the request omits: the model's default (--generation-config), else OpenAI's.
  const d = ctx.samplingDefaults;
  const topK = body.top_k ?? d.top_k ?? -1;
  const temperature = body.temperature ?? d.temperature ?? 1;
  return {
    // As vLLM: a temperature under 1e-5 is greedy (dividing by it overflows float32 logits to infinities).
    temperature: temperature < GREEDY_BELOW_TEMPERATURE ? 0 : temperature,
    topK: topK <= 0 ? 0 : topK,
    topP: body.top_p ?? d.top_p ?? 1,
    minP: body.min_p ?? d.min_p ?? 0,
    repetitionPenalty: body.repetition_penalty ?? d.repetition_penalty ?? 1,
    presencePenalty: body.presence_penalty ?? 0,
    frequencyPenalty: body.frequency_penalty ?? 0,
    logitBias,
  };
}
