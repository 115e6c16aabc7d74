import { apiKey, showKeyNeeded } from './api-key.js';
import type { ApiErrorBody } from './protocol.js';

/** An error the server answered with (OpenAI's shape), or a network failure shaped alike. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

/** "invalid_request: 'reasoners.0.weight' must be <= 10": how the page shows a server error. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.body.code}: ${err.body.message}`;
  if (err && typeof err === 'object' && 'message' in err && 'code' in err) return `${String(err.code)}: ${String(err.message)}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * A JSON request to this server; resolves with the parsed body, rejects with ApiError. `token` is the bearer
 * (the admin token, on admin routes); without one the page's API key is sent, and a 401 says the key is needed.
 */
export async function apiJson<T>(path: string, opts: { method?: string; body?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const token = opts.token ?? apiKey();
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  } catch (err) {
    throw new ApiError(0, { message: `the server cannot be reached (${(err as Error).message})`, type: 'network_error', param: null, code: 'network_error' });
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below with the status
  }
  if (!res.ok) {
    const error = (body as { error?: ApiErrorBody } | null)?.error;
    if (res.status === 401 && opts.token === undefined) showKeyNeeded(error?.message ?? `${res.status} ${res.statusText}`);
    throw new ApiError(res.status, error ?? { message: `${res.status} ${res.statusText}: ${text.slice(0, 200)}`, type: 'http_error', param: null, code: `http_${res.status}` });
  }
  return body as T;
}

/** GET /v1/reasoners entries (docs/admin-api.md). */
export interface ReasonerInfo {
  name: string;
  version: string;
  description?: string;
  default_weight: number;
  state: 'loading' | 'ready' | 'draining' | 'failed';
  in_flight: number;
  load_ms?: number | null;
  size_bytes?: number | null;
  path?: string;
  error: string | null;
}

export async function listReasoners(): Promise<ReasonerInfo[]> {
  return (await apiJson<{ data: ReasonerInfo[] }>('/v1/reasoners')).data;
}
