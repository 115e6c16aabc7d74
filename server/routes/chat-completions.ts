import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { deserializeError, UnirError } from '../../common/errors.js';
import type { DoneEvent, ReturnedToken } from '../../engine/generation-request.js';
import type { AppContext } from '../app-context.js';
import { chatLogprobOf, chatLogprobs, type ChatLogprob } from '../chat-format.js';
import { messageText, promptBody, textSize } from '../chat-prompt.js';
import { ChoiceOutput, replyMessage, type ChatDelta, type ChatOutputParsers } from '../chat-output/choice-output.js';
import { planTools } from '../chat-tools.js';
import { prepareGrammar, requestGrammar } from '../structured-output.js';
import { warnUnknownFields } from '../unknown-fields.js';
import { AttributionFormatter, type AttributionEntry } from '../attribution-format.js';
import { collectChoices, usageOf } from '../choice-collector.js';
import { checkStreamOptions, planGeneration } from '../generation-plan.js';
import { GenerationRun } from '../generation-run.js';
import { checkTokenRange } from '../prompt-ids.js';
import { chatBodySchema, type ChatBody } from '../schemas/chat-schema.js';
import { clientGone, SseWriter } from '../sse.js';

/** POST /v1/chat/completions: messages through the model's chat template, plain or streamed (SSE). */
export async function chatCompletionRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post<{ Body: ChatBody }>(
    '/v1/chat/completions',
    { schema: { body: chatBodySchema, summary: 'Chat: the messages rendered through the model\'s chat template, then completed; plain or streamed.' } },
    async (req, reply) => {
      const body = req.body;
      warnUnknownFields(ctx, 'chat', body, chatBodySchema.properties);
      const maxTokens = checkChatBody(body);
      checkStreamOptions(body);
      const logprobs = body.logprobs ? (body.top_logprobs ?? 0) : null;
      const tools = planTools(ctx, body);
      const structured = requestGrammar(body);
      if (structured && tools.grammar) throw new UnirError('invalid_request', `tool_choice ${JSON.stringify(body.tool_choice)} forces tool calls: it cannot be combined with ${structured.param}`, 'tool_choice');
      const grammar = structured ?? tools.grammar;
      if (grammar) await prepareGrammar(ctx, grammar, body);
      const { ids } = await ctx.text.run('renderChatPrompt', [promptBody(body)], textSize(body));
      if (ids.length === 0) throw new UnirError('invalid_request', 'the messages render to an empty prompt', 'messages');
      checkTokenRange(ctx, ids, true, 'messages');
      const plan = planGeneration(ctx, { ...body, max_tokens: maxTokens }, [ids], { defaultMaxTokens: 'rest', logprobs, fromMessages: true });
      for (const r of plan.requests) r.grammar = grammar?.spec ?? null;
      const run = new GenerationRun(ctx, plan, 'chat_completions', clientGone(reply));
      const last = body.messages[body.messages.length - 1];
      const echo = body.echo && last.role === 'assistant' ? messageText(last, body.messages.length - 1) : '';
      const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
      const created = Math.floor(Date.now() / 1000);
      const attribution = body.return_attribution ? new AttributionFormatter(ctx.tokenizer, plan.lease.uses, plan.lease.names) : null;

      if (!body.stream) {
        const choices = await collectChoices(run, plan.requests.length);
        return {
          id,
          object: 'chat.completion',
          created,
          model: plan.model,
          choices: choices.map((c) => {
            const output = new ChoiceOutput(tools.parsers);
            const message = replyMessage([...output.push(c.text), ...output.finish()]);
            if (echo) message.content = echo + (message.content ?? '');
            return {
              index: c.index,
              message: { role: 'assistant', ...message },
              logprobs: logprobs === null ? null : chatLogprobs(ctx.tokenizer, c.returnedTokens),
              finish_reason: finishReason(c.done!, output),
              stop_reason: c.done!.stopReason,
              ...(attribution ? { attribution: c.attributed.map((e) => attribution.entry(e)) } : {}),
            };
          }),
          usage: usageOf(ids.length, choices),
        };
      }
      const includeUsage = body.stream_options?.include_usage === true;
      return streamChat(reply, ctx, run, { head: { id, object: 'chat.completion.chunk', created, model: plan.model }, echo, logprobs, attribution, n: plan.requests.length, includeUsage, promptTokens: ids.length, parsers: tools.parsers });
    },
  );
}

/** Checks what the schema cannot; returns max_tokens (from max_tokens or max_completion_tokens). */
function checkChatBody(body: ChatBody): number | null {
  const hasTop = body.top_logprobs !== null && body.top_logprobs !== undefined;
  if (hasTop && !body.logprobs) throw new UnirError('invalid_request', 'top_logprobs needs logprobs: true', 'top_logprobs');
  if (body.echo && body.logprobs) throw new UnirError('invalid_request', 'echo with logprobs is not supported: prompt logprobs are not computed', 'echo');
  const a = body.max_tokens ?? null;
  const b = body.max_completion_tokens ?? null;
  if (a !== null && b !== null && a !== b) {
    throw new UnirError('invalid_request', `max_tokens (${a}) and max_completion_tokens (${b}) differ: give one of them`, 'max_completion_tokens');
  }
  return a ?? b;
}

interface StreamOptions {
  head: object;
  echo: string;
  logprobs: number | null;
  attribution: AttributionFormatter | null;
  n: number;
  includeUsage: boolean;
  promptTokens: number;
  parsers: ChatOutputParsers;
}

/** "tool_calls" when the reply ended by itself with tool calls, as OpenAI reports it. */
function finishReason(done: DoneEvent, output: ChoiceOutput): string {
  return done.finishReason === 'stop' && output.toolCallCount > 0 ? 'tool_calls' : done.finishReason;
}

/**
 * A parsed piece of the reply as an OpenAI delta: a call's first chunk has its id, type, name and empty
 * arguments; later chunks carry argument fragments by index.
 */
function deltaOf(d: ChatDelta): object {
  if ('tool_call' in d) return { tool_calls: [{ index: d.tool_call.index, id: d.tool_call.id, type: 'function', function: { name: d.tool_call.name, arguments: '' } }] };
  if ('tool_arguments' in d) return { tool_calls: [{ index: d.tool_arguments.index, function: { arguments: d.tool_arguments.fragment } }] };
  return d;
}

/**
 * OpenAI's chunk sequence per choice: a role delta first, content deltas, then a last delta with the
 * finish_reason; with include_usage every chunk has usage: null and a last chunk (no choices) has the usage.
 * A token whose text is held back (an incomplete character or stop-string prefix, a tag or tool call still
 * being read) sends no chunk: its logprob entries (one per token whose text is returned) and its attribution entry
 * (one per sampled token) ride with the next chunk, so the logprobs and attribution of a stream equal the plain
 * response's. Reasoning streams as delta.reasoning_content; a tool call as delta.tool_calls chunks (see deltaOf)
 * whose argument fragments concatenate to the plain response's arguments.
 */
async function streamChat(reply: FastifyReply, ctx: AppContext, run: GenerationRun, o: StreamOptions): Promise<void> {
  const sse = new SseWriter(reply);
  sse.pauseWhileUnread(run, ctx.options.streamWriteTimeout);
  const usageField = o.includeUsage ? { usage: null } : {};
  const outputs = Array.from({ length: o.n }, () => new ChoiceOutput(o.parsers));
  const chunk = (index: number, delta: object, extra: { logprobs?: ChatLogprob[]; attribution?: AttributionEntry[]; done?: DoneEvent } = {}) =>
    sse.send({
      ...o.head,
      choices: [
        {
          index,
          delta,
          logprobs: extra.logprobs ? { content: extra.logprobs } : null,
          finish_reason: extra.done ? finishReason(extra.done, outputs[index]) : null,
          ...(extra.done ? { stop_reason: extra.done.stopReason } : {}),
          ...(extra.attribution && extra.attribution.length > 0 ? { attribution: extra.attribution } : {}),
        },
      ],
      ...usageField,
    });
  const pending: ChatLogprob[][] = Array.from({ length: o.n }, () => []);
  const dones: (DoneEvent | null)[] = new Array(o.n).fill(null);
  const takePending = (index: number) => (o.logprobs === null ? undefined : pending[index].splice(0));
  const hold = (index: number, tokens: ReturnedToken[] | undefined) => {
    if (o.logprobs !== null && tokens) pending[index].push(...tokens.map((t) => chatLogprobOf(ctx.tokenizer, t)));
  };
  const pendingAttribution: AttributionEntry[][] = Array.from({ length: o.n }, () => []);
  const riding = (index: number) => ({ logprobs: takePending(index), attribution: pendingAttribution[index].splice(0) });
  for (let i = 0; i < o.n; i++) chunk(i, { role: 'assistant', content: o.echo });
  try {
    for await (const { index, event } of run) {
      if (event.kind === 'token') {
        hold(index, event.returnedTokens);
        if (o.attribution) pendingAttribution[index].push(o.attribution.entry(event)!);
        for (const d of outputs[index].push(event.text)) chunk(index, deltaOf(d), riding(index));
      } else {
        dones[index] = event;
        if (event.error) {
          sse.error(deserializeError(event.error));
          continue;
        }
        hold(index, event.returnedTokens);
        const last = [...outputs[index].push(event.text), ...outputs[index].finish()];
        for (const d of last) chunk(index, deltaOf(d), riding(index));
        const lp = takePending(index);
        chunk(index, {}, { logprobs: lp && lp.length > 0 ? lp : undefined, attribution: pendingAttribution[index].splice(0), done: event });
      }
    }
    if (o.includeUsage) sse.send({ ...o.head, choices: [], usage: usageOf(o.promptTokens, dones.map((done) => ({ done }))) });
  } catch (err) {
    sse.error(err);
  }
  sse.done();
}
