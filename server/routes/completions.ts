import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { deserializeError, UnirError } from '../../common/errors.js';
import type { DoneEvent, ReturnedToken, TopLogprob } from '../../engine/generation-request.js';
import type { TextTokenizer } from '../../models/text-tokenizer.js';
import type { AppContext } from '../app-context.js';
import { AttributionFormatter } from '../attribution-format.js';
import { collectChoices, usageOf } from '../choice-collector.js';
import { checkStreamOptions, planGeneration } from '../generation-plan.js';
import { promptIdList, promptInputs } from '../prompt-ids.js';
import { GenerationRun } from '../generation-run.js';
import { completionBodySchema, type CompletionBody } from '../schemas/completion-schema.js';
import { clientGone, SseWriter } from '../sse.js';
import { prepareGrammar, requestGrammar } from '../structured-output.js';
import { warnUnknownFields } from '../unknown-fields.js';

/** POST /v1/completions: OpenAI's legacy completion API, plain or streamed (SSE). */
export async function completionRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionBodySchema, summary: 'Complete a prompt.' } }, async (req, reply) => {
    const body = req.body;
    if (body.suffix !== null && body.suffix !== undefined) throw new UnirError('invalid_request', 'suffix is not supported', 'suffix');
    if (body.best_of !== null && body.best_of !== undefined && body.best_of !== (body.n ?? 1)) {
      throw new UnirError('invalid_request', 'best_of must equal n (only n choices are generated)', 'best_of');
    }
    if (body.echo && body.logprobs !== null && body.logprobs !== undefined) {
      throw new UnirError('invalid_request', 'echo with logprobs is not supported: prompt logprobs are not computed', 'echo');
    }
    if (body.max_completion_tokens !== undefined) {
      // OpenAI's reference has max_completion_tokens on chat completions only; its completions API refuses it.
      throw new UnirError('invalid_request', 'max_completion_tokens is a chat completions parameter: /v1/completions takes max_tokens', 'max_completion_tokens');
    }
    checkStreamOptions(body);
    warnUnknownFields(ctx, 'completions', body, completionBodySchema.properties);
    const grammar = requestGrammar(body);
    if (grammar) await prepareGrammar(ctx, grammar, body);
    const prompts = await promptIdList(ctx, body.prompt);
    const logprobs = body.logprobs ?? null;
    const plan = planGeneration(ctx, body, prompts, { defaultMaxTokens: 16, logprobs, fromMessages: false });
    for (const r of plan.requests) r.grammar = grammar?.spec ?? null;
    const run = new GenerationRun(ctx, plan, 'completions', clientGone(reply));
    const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
    const created = Math.floor(Date.now() / 1000);
    const n = body.n ?? 1;
    // Choice k continues prompt floor(k / n); echo repeats that prompt (its text, or its tokens decoded off the event loop).
    const echoes = body.echo
      ? await Promise.all(promptInputs(body.prompt).inputs.map((p, i) => (typeof p === 'string' ? p : ctx.text.run('decode', [prompts[i], true], prompts[i].length))))
      : [];
    const echoOf = (choice: number) => echoes[Math.floor(choice / n)] ?? '';
    const head = { id, object: 'text_completion', created, model: plan.model };
    const attribution = body.return_attribution ? new AttributionFormatter(ctx.tokenizer, plan.lease.uses, plan.lease.names) : null;

    if (!body.stream) {
      const choices = await collectChoices(run, plan.requests.length);
      return {
        ...head,
        choices: choices.map((c) => ({
          index: c.index,
          text: echoOf(c.index) + c.text,
          logprobs: logprobs === null ? null : completionLogprobs(ctx.tokenizer, c.returnedTokens, echoOf(c.index).length),
          finish_reason: c.done!.finishReason,
          stop_reason: c.done!.stopReason,
          ...(attribution ? { attribution: c.attributed.map((e) => attribution.entry(e)) } : {}),
        })),
        usage: usageOf(plan.promptTokens, choices),
      };
    }
    const includeUsage = body.stream_options?.include_usage === true;
    return streamCompletion(reply, ctx, run, { head, echoOf, logprobs, attribution, n: plan.requests.length, includeUsage, promptTokens: plan.promptTokens });
  });
}

async function streamCompletion(
  reply: FastifyReply,
  ctx: AppContext,
  run: GenerationRun,
  o: { head: object; echoOf: (choice: number) => string; logprobs: number | null; attribution: AttributionFormatter | null; n: number; includeUsage: boolean; promptTokens: number },
): Promise<void> {
  const sse = new SseWriter(reply);
  // With include_usage every chunk has usage: null, and the last one (no choices) the usage (OpenAI's promise).
  const usageField = o.includeUsage ? { usage: null } : {};
  sse.pauseWhileUnread(run, ctx.options.streamWriteTimeout);
  const chunk = (index: number, text: string, extra: { logprobs?: unknown; attribution?: unknown; finish_reason?: string | null; stop_reason?: string | number | null } = {}) =>
    sse.send({
      ...o.head,
      choices: [{ index, text, logprobs: extra.logprobs ?? null, finish_reason: extra.finish_reason ?? null, ...(extra.finish_reason ? { stop_reason: extra.stop_reason ?? null } : {}), ...(extra.attribution ? { attribution: extra.attribution } : {}) }],
      ...usageField,
    });
  const dones: (DoneEvent | null)[] = new Array(o.n).fill(null);
  for (let i = 0; i < o.n; i++) if (o.echoOf(i)) chunk(i, o.echoOf(i));
  const logprobsOf = (index: number, tokens: ReturnedToken[] | undefined) =>
    o.logprobs === null ? undefined : completionLogprobs(ctx.tokenizer, tokens ?? [], o.echoOf(index).length);
  try {
    for await (const { index, event } of run) {
      if (event.kind === 'token') {
        // Text held back sends nothing, unless attribution is on (an entry per sampled token, text may be ''):
        // logprobs stay with the chunk that returns the text.
        if (event.text === '' && o.attribution === null) continue;
        chunk(index, event.text, { logprobs: logprobsOf(index, event.returnedTokens), attribution: o.attribution ? [o.attribution.entry(event)] : undefined });
      } else {
        dones[index] = event;
        if (event.error) {
          sse.error(deserializeError(event.error));
          continue;
        }
        chunk(index, event.text, { logprobs: logprobsOf(index, event.returnedTokens), finish_reason: event.finishReason, stop_reason: event.stopReason });
      }
    }
    if (o.includeUsage) sse.send({ ...o.head, choices: [], usage: usageOf(o.promptTokens, dones.map((done) => ({ done }))) });
  } catch (err) {
    sse.error(err);
  }
  sse.done();
}

/**
 * OpenAI's completion logprobs for the returned tokens: per token its text, logprob, top alternatives and character
 * offset in the choice's text (after any echo). A token shows the text it returns (see ReturnedToken.returnedText),
 * so the tokens join to the choice's text even where a character is split across tokens or a stop string cuts one.
 */
function completionLogprobs(tokenizer: TextTokenizer, tokens: readonly ReturnedToken[], echoLength: number) {
  return {
    tokens: tokens.map((t) => t.returnedText),
    token_logprobs: tokens.map((t) => t.logprob ?? null),
    top_logprobs: tokens.map((t) => topMap(tokenizer, t.topLogprobs ?? [])),
    text_offset: tokens.map((t) => t.offset + echoLength),
  };
}

function topMap(tokenizer: TextTokenizer, top: readonly TopLogprob[]): Record<string, number> {
  return Object.fromEntries(top.map((t) => [tokenizer.tokenText(t.id), t.logprob]));
}
