/**
 * The one table of coded errors. Layers below HTTP throw UnirError with a code; the server maps the code to a
 * status and OpenAI's error JSON at the boundary (server/error-response.ts), so no layer below knows HTTP.
 */
export const ERROR_CODES = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  context_length_exceeded: { status: 400, type: 'invalid_request_error' },
  // OpenAI answers an unknown model with 404 (the SDKs raise NotFoundError), typed invalid_request_error.
  model_not_found: { status: 404, type: 'invalid_request_error' },
  invalid_model_dir: { status: 400, type: 'invalid_request_error' },
  incompatible_reasoner: { status: 400, type: 'invalid_request_error' },
  path_outside_root: { status: 400, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  reasoner_not_found: { status: 404, type: 'not_found_error' },
  not_found: { status: 404, type: 'not_found_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'timeout_error' },
  reasoner_exists: { status: 409, type: 'conflict_error' },
  modules_root_watched: { status: 409, type: 'conflict_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  header_too_large: { status: 431, type: 'invalid_request_error' },
  queue_full: { status: 429, type: 'rate_limit_error' },
  too_many_generations: { status: 429, type: 'rate_limit_error' },
  reasoner_failed: { status: 500, type: 'server_error' },
  model_failed: { status: 500, type: 'server_error' },
  internal_error: { status: 500, type: 'server_error' },
  not_ready: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  provider_unavailable: { status: 500, type: 'server_error' },
  load_timeout: { status: 504, type: 'timeout_error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class UnirError extends Error {
  /** What only the log may show (native runtime text, file paths); `message` is what a client may read. */
  readonly detail: string | null;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
    options?: { cause?: unknown; detail?: string | null },
  ) {
    super(message, options);
    this.name = 'UnirError';
    this.detail = options?.detail ?? null;
  }
}

/** The plain form that crosses worker boundaries (structured clone drops the class). */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  param: string | null;
  detail?: string | null;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof UnirError) return { code: err.code, message: err.message, param: err.param, detail: err.detail };
  const message = err instanceof Error ? err.message : String(err);
  // Not one of ours: its text (a native message, a stack) is for the log only.
  return { code: 'internal_error', message: 'internal error', param: null, detail: err instanceof Error && err.stack ? err.stack : message };
}

export function deserializeError(e: SerializedError): UnirError {
  return new UnirError(e.code, e.message, e.param, { detail: e.detail ?? null });
}
