import type { FastifyInstance } from 'fastify';
import { UnirError } from '../../common/errors.js';
import type { AppContext } from '../app-context.js';
import { promptBody, textSize } from '../chat-prompt.js';
import { promptInputs, promptTokenIds, type PromptInput } from '../prompt-ids.js';
import { checkPromptChars } from '../prompt-length.js';
import { detokenizeBodySchema, tokenizeBodySchema, type DetokenizeBody, type TokenizeBody } from '../schemas/tokenize-schema.js';

/** POST /tokenize and POST /detokenize, in vLLM's shapes. */
export async function tokenizeRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post<{ Body: TokenizeBody }>(
    '/tokenize',
    { schema: { body: tokenizeBodySchema, summary: 'Tokenize a prompt, or messages through the chat template: {tokens, count, max_model_len}.' } },
    async (req) => {
      const body = req.body;
      checkModel(ctx, body.model);
      const hasPrompt = body.prompt !== undefined;
      const hasMessages = body.messages !== undefined;
      if (hasPrompt === hasMessages) throw new UnirError('invalid_request', 'give either "prompt" or "messages"', hasPrompt ? 'messages' : 'prompt');
      const strs = (ids: number[]) => ids.map((id) => ctx.tokenizer.tokenText(id));
      const respond = (tokens: number[] | number[][], count: number, tokenStrs: () => string[] | string[][]) => ({
        tokens,
        count,
        max_model_len: ctx.maxContext,
        ...(body.return_token_strs ? { token_strs: tokenStrs() } : {}),
      });
      if (!hasPrompt) {
        const tokens = Array.from(await messageIds(ctx, body));
        return respond(tokens, tokens.length, () => strs(tokens));
      }
      // A string or one token array gives one list; several prompts give a list of lists (count: their total).
      const { inputs, list } = promptInputs(body.prompt!);
      // Every text's length is checked before any is tokenized.
      for (const input of inputs) if (typeof input === 'string') checkPromptChars(ctx, input, 'prompt');
      const lists = (await Promise.all(inputs.map((input) => tokensOf(ctx, input, body.add_special_tokens ?? true)))).map((ids) => Array.from(ids));
      if (list) return respond(lists, lists.reduce((sum, l) => sum + l.length, 0), () => lists.map(strs));
      return respond(lists[0], lists[0].length, () => strs(lists[0]));
    },
  );

  app.post<{ Body: DetokenizeBody }>(
    '/detokenize',
    { schema: { body: detokenizeBodySchema, summary: 'Turn token ids into text: {prompt}.' } },
    async (req) => {
      checkModel(ctx, req.body.model);
      const vocab = ctx.engine.base.vocabSize;
      const bad = req.body.tokens.find((id) => id >= vocab);
      if (bad !== undefined) throw new UnirError('invalid_request', `token id ${bad} is outside the vocabulary (0..${vocab - 1})`, 'tokens');
      return { prompt: await ctx.text.run('decode', [req.body.tokens, false], req.body.tokens.length) };
    },
  );
}

/**
 * Text is tokenized as it is (the tokenizer's view, even of ids the model has no row for), off the event loop when
 * long; token ids are checked.
 */
async function tokensOf(ctx: AppContext, input: PromptInput, addSpecialTokens: boolean): Promise<Int32Array> {
  return typeof input === 'string' ? ctx.text.run('encode', [input, addSpecialTokens], input.length) : promptTokenIds(ctx, input);
}

async function messageIds(ctx: AppContext, body: TokenizeBody): Promise<Int32Array> {
  const chat = promptBody({ ...body, messages: body.messages! });
  const { text, ids } = await ctx.text.run('renderChatPrompt', [chat], textSize(chat));
  return body.add_special_tokens ? ctx.text.run('encode', [text, true], text.length) : ids;
}

/** `model` is optional; when given it must name this server's base (module suffixes do not change tokens). */
function checkModel(ctx: AppContext, model: string | undefined): void {
  if (model === undefined) return;
  if (model.split('+')[0] !== ctx.modelId) {
    throw new UnirError('model_not_found', `The model \`${model}\` does not exist: this server serves \`${ctx.modelId}\``, 'model');
  }
}
