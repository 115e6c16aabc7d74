import type { ReasonerLease, ReasonerSelection } from '../adapters/reasoner-registry.js';
import { UnirError } from '../common/errors.js';
import type { GenerationRequest } from '../engine/generation-request.js';
import type { SamplingParams } from '../kernels/sampling-params.js';
import type { AppContext } from './app-context.js';
import type { SamplingBody } from './schemas/sampling-schema.js';

/** A validated request, ready to submit: n sequences and the modules they hold. */
export interface GenerationPlan {
  promptIds: Int32Array;
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

/** Checks a request against the model and builds its engine requests; holds its modules until released. */
export function planGeneration(ctx: AppContext, body: SamplingBody & { model: string }, promptIds: Int32Array, opts: PlanOptions): GenerationPlan {
  const selection = selectReasoners(ctx, body);
  const sampling = samplingOf(body, ctx);
  const lease = ctx.registry.acquire(selection);
  try {
    const maxContext = Math.min(ctx.maxContext, lease.maxContext);
    const maxTokens = resolveMaxTokens(body.max_tokens, promptIds.length, maxContext, opts);
    const minTokens = body.min_tokens ?? 0;
    if (minTokens > maxTokens) {
      throw new UnirError('invalid_request', `min_tokens (${minTokens}) must not exceed max_tokens (${maxTokens})`, 'min_tokens');
    }
    const n = body.n ?? 1;
    const stop = typeof body.stop === 'string' ? [body.stop] : (body.stop ?? []);
    const requests = Array.from({ length: n }, (_, i): GenerationRequest => ({
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
      reasonerGate: gateOf(body, ctx),
      attribution: attributionOf(body, ctx),
    }));
    return { promptIds, requests, lease, model: body.model };
  } catch (err) {
    lease.release();
    throw err;
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
    if (fromName.some((n) => n === '')) throw new UnirError('model_not_found', `\`${body.model}\` has an empty module name`, 'model');
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
  const topK = body.top_k ?? -1;
  return {
    temperature: body.temperature ?? 1,
    topK: topK <= 0 ? 0 : topK,
    topP: body.top_p ?? 1,
    minP: body.min_p ?? 0,
    repetitionPenalty: body.repetition_penalty ?? 1,
    presencePenalty: body.presence_penalty ?? 0,
    frequencyPenalty: body.frequency_penalty ?? 0,
    logitBias,
  };
}
