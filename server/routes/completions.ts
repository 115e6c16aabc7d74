import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { UnirError } from '../../common/errors.js';
import type { DoneEvent, TokenEvent, TopLogprob } from '../../engine/generation-request.js';
import type { TextTokenizer } from '../../models/text-tokenizer.js';
import type { AppContext } from '../app-context.js';
import { AttributionFormatter } from '../attribution-format.js';
import { collectChoices, usageOf, type CollectedChoice } from '../choice-collector.js';
import { errorBody, toUnirError } from '../error-response.js';
import { planGeneration } from '../generation-plan.js';
import { promptIds as toPromptIds } from '../prompt-ids.js';
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
    warnUnknownFields(ctx, 'completions', body, completionBodySchema.properties);
    const grammar = requestGrammar(body);
    if (grammar) await prepareGrammar(ctx, grammar, body);
    const promptIds = toPromptIds(ctx, body.prompt);
    const logprobs = body.logprobs ?? null;
    const plan = planGeneration(ctx, body, promptIds, { defaultMaxTokens: 16, logprobs, fromMessages: false });
    for (const r of plan.requests) r.grammar = grammar?.spec ?? null;
    const run = new GenerationRun(ctx, plan, 'completions', clientGone(reply));
    const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
    const created = Math.floor(Date.now() / 1000);
    const echo = body.echo ? (typeof body.prompt === 'string' ? body.prompt : ctx.tokenizer.decode(promptIds)) : '';
    const head = { id, object: 'text_completion', created, model: plan.model };
    const attribution = body.return_attribution ? new AttributionFormatter(ctx.tokenizer, plan.lease.uses, plan.lease.names) : null;

    if (!body.stream) {
      const choices = await collectChoices(run, plan.requests.length);
      return {
        ...head,
        choices: choices.map((c) => ({
          index: c.index,
          text: echo + c.text,
          logprobs: logprobs === null ? null : completionLogprobs(ctx.tokenizer, c, echo.length),
          finish_reason: c.done!.finishReason,
          stop_reason: c.done!.stopReason,
          ...(attribution ? { attribution: c.attributed.map((e) => attribution.entry(e)) } : {}),
        })),
        usage: usageOf(promptIds.length, choices),
      };
    }
    return streamCompletion(reply, ctx, run, { head, echo, logprobs, attribution, n: plan.requests.length, includeUsage: body.stream_options?.include_usage === true, promptTokens: promptIds.length });
  });
}

async function streamCompletion(
  reply: FastifyReply,
  ctx: AppContext,
  run: GenerationRun,
  o: { head: object; echo: string; logprobs: number | null; attribution: AttributionFormatter | null; n: number; includeUsage: boolean; promptTokens: number },
): Promise<void> {
  const sse = new SseWriter(reply);
  const chunk = (index: number, text: string, extra: { logprobs?: unknown; attribution?: unknown; finish_reason?: string | null; stop_reason?: string | number | null } = {}) =>
    sse.send({
      ...o.head,
      choices: [{ index, text, logprobs: extra.logprobs ?? null, finish_reason: extra.finish_reason ?? null, ...(extra.finish_reason ? { stop_reason: extra.stop_reason ?? null } : {}), ...(extra.attribution ? { attribution: extra.attribution } : {}) }],
    });
  const offsets = new Array<number>(o.n).fill(o.echo.length);
  const dones: (DoneEvent | null)[] = new Array(o.n).fill(null);
  if (o.echo) for (let i = 0; i < o.n; i++) chunk(i, o.echo);
  try {
    for await (const { index, event } of run) {
      if (event.kind === 'token') {
        // A token without text still gets its chunk when it carries logprobs or attribution.
        if (event.text === '' && o.logprobs === null && o.attribution === null) continue;
        const lp = o.logprobs === null ? undefined : tokenLogprobs(ctx.tokenizer, [event], offsets[index]);
        offsets[index] += event.text.length;
        chunk(index, event.text, { logprobs: lp, attribution: o.attribution ? [o.attribution.entry(event)] : undefined });
      } else {
        dones[index] = event;
        if (event.error) {
          sse.send(errorBody(toUnirError(new UnirError(event.error.code, event.error.message, event.error.param))));
          continue;
        }
        chunk(index, event.text, { finish_reason: event.finishReason, stop_reason: event.stopReason });
      }
    }
    if (o.includeUsage) sse.send({ ...o.head, choices: [], usage: usageOf(o.promptTokens, dones.map((done) => ({ done }))) });
  } catch (err) {
    sse.send(errorBody(toUnirError(err)));
  }
  sse.done();
}

/** OpenAI's completion logprobs: per token its text, logprob, top alternatives and text offset. */
function completionLogprobs(tokenizer: TextTokenizer, c: CollectedChoice, offset: number) {
  return {
    tokens: c.tokenIds.map((id) => tokenizer.tokenText(id)),
    token_logprobs: c.logprobs,
    top_logprobs: c.topLogprobs.map((top) => topMap(tokenizer, top)),
    text_offset: c.textOffsets.map((o) => o + offset),
  };
}

function tokenLogprobs(tokenizer: TextTokenizer, events: TokenEvent[], offset: number) {
  return {
    tokens: events.map((e) => tokenizer.tokenText(e.tokenId)),
    token_logprobs: events.map((e) => e.logprob ?? null),
    top_logprobs: events.map((e) => topMap(tokenizer, e.topLogprobs ?? [])),
    text_offset: [offset],
  };
}

function topMap(tokenizer: TextTokenizer, top: readonly TopLogprob[]): Record<string, number> {
  return Object.fromEntries(top.map((t) => [tokenizer.tokenText(t.id), t.logprob]));
}
