import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, UnirError, type ErrorCode } from '../common/errors.js';
import { redactPaths } from './redact-paths.js';

/** OpenAI's error JSON: every error the server sends has this shape. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: ErrorCode };
}

/** Who an error is reported for: the request id clients quote, and the log that keeps the details. */
export interface ErrorContext {
  id: string;
  /** A logger whose lines already carry `reqId` (a request's req.log, or a child with it). */
  log: FastifyBaseLogger;
  /** The client's address, for the log. */
  ip?: string;
}

/** Refusals that are part of normal operation: logged at info, without a stack. */
const ROUTINE_5XX = new Set<ErrorCode>(['not_ready', 'shutting_down']);

/**
 * The body a client may read for `err`, and the log line with what it may not. A 5xx body names the request id
 * (an internal error says nothing else: its text may hold native stacks); the log line has the code, the full
 * message and the details under that id. Every message is cleared of file system paths.
 */
export function publicError(err: unknown, ctx: ErrorContext): ErrorBody {
  const e = toUnirError(err);
  const status = statusOf(e);
  let message = redactPaths(e.message);
  if (status >= 500) {
    message = e.code === 'internal_error' ? `internal error, request id ${ctx.id}` : `${message} (request id ${ctx.id})`;
    const fields = { code: e.code, err: e.message, detail: e.detail ?? undefined, remoteAddress: ctx.ip };
    if (ROUTINE_5XX.has(e.code)) ctx.log.info(fields, 'request refused');
    else ctx.log.error(err instanceof UnirError ? fields : { ...fields, stack: (err as Error)?.stack }, 'request failed');
  }
  return { error: { message, type: ERROR_CODES[e.code].type, param: e.param, code: e.code } };
}

export function statusOf(err: UnirError): number {
  return ERROR_CODES[err.code].status;
}

export function errorContext(req: FastifyRequest): ErrorContext {
  return { id: req.id, log: req.log, ip: req.ip };
}

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toUnirError(err);
  if (e.code === 'queue_full') reply.header('retry-after', '1');
  return reply.code(statusOf(e)).type('application/json').send(publicError(e, errorContext(reply.request)));
}

/** Maps Fastify's own errors (schema validation, body parsing, limits, bad URLs) and anything else to a coded error. */
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
    case 'FST_ERR_BAD_URL':
      return new UnirError('invalid_request', 'the URL is not valid (a bad percent-encoding?)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new UnirError('invalid_request', 'a path parameter of the URL is too long');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new UnirError('request_timeout', 'the request was not received in time (--body-timeout)');
    default:
      break;
  }
  if (f.statusCode === 413) return new UnirError('payload_too_large', f.message ?? 'body too large');
  if (f.statusCode === 400 || err instanceof SyntaxError) {
    return new UnirError('invalid_request', `the request body is not valid JSON: ${f.message}`);
  }
  // Any other client error fastify raises (a bad Content-Length, an aborted body...): its message is its own.
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) return new UnirError('invalid_request', f.message ?? 'bad request');
  return new UnirError('internal_error', 'internal error', null, { detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}

/** JSON Schema types in words: ['integer', 'null'] → "an integer or null" (Ajv's own message reads "must be integer,null"). */
function typeNames(types: string | string[]): string {
  const article = (t: string) => (t === 'null' ? 'null' : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);
  const list = (Array.isArray(types) ? types : String(types).split(',')).map(article);
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list.at(-1)}` : list[0];
}
