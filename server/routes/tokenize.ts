import type { FastifyInstance } from 'fastify';
import { UnirError } from '../../common/errors.js';
import type { AppContext } from '../app-context.js';
import { renderChatPrompt } from '../chat-prompt.js';
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
      const ids = hasPrompt
        ? ctx.tokenizer.encode(body.prompt!, body.add_special_tokens ?? true)
        : messageIds(ctx, body);
      const tokens = Array.from(ids);
      return {
        tokens,
        count: tokens.length,
        max_model_len: ctx.maxContext,
        ...(body.return_token_strs ? { token_strs: tokens.map((id) => ctx.tokenizer.tokenText(id)) } : {}),
      };
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
      return { prompt: ctx.tokenizer.decode(req.body.tokens, false) };
    },
  );
}

function messageIds(ctx: AppContext, body: TokenizeBody): Int32Array {
  const { text, ids } = renderChatPrompt(ctx, { ...body, messages: body.messages! });
  return body.add_special_tokens ? ctx.tokenizer.encode(text, true) : ids;
}

/** `model` is optional; when given it must name this server's base (module suffixes do not change tokens). */
function checkModel(ctx: AppContext, model: string | undefined): void {
  if (model === undefined) return;
  if (model.split('+')[0] !== ctx.modelId) {
    throw new UnirError('model_not_found', `The model \`${model}\` does not exist: this server serves \`${ctx.modelId}\``, 'model');
  }
}
