import type { ServerOptions } from './options.js';

/** What to tell the operator when the server cannot listen; null for errors that are not about listening. */
export function listenFailure(err: unknown, options: Pick<ServerOptions, 'host' | 'port'>): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return `port ${options.port} is in use; choose another with --port`;
    case 'EACCES':
      return `no permission to listen on port ${options.port} (ports below 1024 need privileges); choose another with --port`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${options.host}: no such address on this machine; choose another with --host`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve --host ${options.host}`;
    default:
      return null;
  }
}
