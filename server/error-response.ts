import type { FastifyError, FastifyReply } from 'fastify';
import { ERROR_CODES, UnirError, type ErrorCode } from '../common/errors.js';

/** OpenAI's error JSON: every error the server sends has this shape. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: ErrorCode };
}

export function errorBody(err: UnirError): ErrorBody {
  return { error: { message: err.message, type: ERROR_CODES[err.code].type, param: err.param, code: err.code } };
}

export function statusOf(err: UnirError): number {
  return ERROR_CODES[err.code].status;
}

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toUnirError(err);
  if (e.code === 'queue_full') reply.header('retry-after', '1');
  return reply.code(statusOf(e)).type('application/json').send(errorBody(e));
}

/** Maps Fastify's own errors (schema validation, body parsing, limits) and anything else to a coded error. */
export function toUnirError(err: unknown): UnirError {
  if (err instanceof UnirError) return err;
  const f = err as Partial<FastifyError> & { validation?: { keyword?: string; instancePath?: string; params?: Record<string, unknown>; message?: string }[] };
  if (f.validation && f.validation.length > 0) {
    const v = f.validation[0];
    const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    const missing = v.params?.missingProperty as string | undefined;
    const param = missing ? (path ? `${path}.${missing}` : missing) : path || null;
    const context = f.validationContext ?? 'body';
    const what = param ? `'${param}'` : `the request ${context}`;
    let message = v.message;
    // Ajv says "must have required property 'x'" of the parent; the client wants the missing field named.
    if (missing) message = 'is required';
    if (v.keyword === 'type' && v.params?.type !== undefined) message = `must be ${typeNames(v.params.type as string | string[])}`;
    // Ajv's enum message ("must be equal to one of the allowed values") does not say which.
    if (v.keyword === 'enum' && Array.isArray(v.params?.allowedValues)) message = `must be one of ${v.params.allowedValues.map((a) => JSON.stringify(a)).join(', ')}`;
    return new UnirError('invalid_request', `${what} ${message ?? 'is invalid'}`, param);
  }
  switch (f.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new UnirError('payload_too_large', `request body is larger than the server's limit: ${f.message}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnirError('invalid_request', `unsupported content type: send application/json (${f.message})`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new UnirError('invalid_request', 'the request body is empty: send a JSON object');
    default:
      break;
  }
  if (f.statusCode === 400 || err instanceof SyntaxError) {
    return new UnirError('invalid_request', `the request body is not valid JSON: ${f.message}`);
  }
  if (typeof f.statusCode === 'number' && f.statusCode === 413) return new UnirError('payload_too_large', f.message ?? 'body too large');
  return new UnirError('internal_error', f.message ?? String(err));
}

/** JSON Schema types in words: ['integer', 'null'] → "an integer or null" (Ajv's own message reads "must be integer,null"). */
function typeNames(types: string | string[]): string {
  const article = (t: string) => (t === 'null' ? 'null' : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);
  const list = (Array.isArray(types) ? types : String(types).split(',')).map(article);
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list.at(-1)}` : list[0];
}
