#!/usr/bin/env node
/** unir-serve --model DIR [options]: see --help, or README's CLI reference. */
import pino from 'pino';
import { UnirError } from '../common/errors.js';
import { listenFailure } from './listen-failure.js';
import { helpText, parseServerOptions, unknownEnvironment } from './options.js';
import { packageVersion } from './package-version.js';
import { startServer, type RunningServer } from './start.js';

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(helpText());
    return;
  }
  if (process.argv.includes('--version') || process.argv.includes('-v')) {
    process.stdout.write(`unir-serve ${packageVersion()}\n`);
    return;
  }
  let options;
  try {
    options = parseServerOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`unir-serve: ${(err as Error).message}\n`);
    process.exit(2);
  }
  let server: RunningServer;
  try {
    server = await startServer(options);
  } catch (err) {
    // A port in use (and other listen failures) is one line that says what to do, not a Node stack.
    const line = listenFailure(err, options);
    if (!line) throw err;
    process.stderr.write(`unir-serve: ${line}\n`);
    process.exit(1);
  }
  const log = server.ctx.log;
  const unknown = unknownEnvironment(process.env);
  if (unknown.length) log.warn({ variables: unknown }, 'these UNIR_ environment variables name no option and are ignored (see --help)');
  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal, inFlight: server.ctx.lifecycle.inFlight }, 'draining: /ready is 503, new requests are refused');
    server.close().then(
      ({ watcherStopped }) => {
        if (!watcherStopped) {
          // process.exit() joins libuv's threads, one of which waits on the unanswering file system: it would hang.
          // pino writes asynchronously, through libuv's threads, and flush() does not wait for a write under way:
          // with threads held by that file system the line could be lost. This one is written synchronously.
          pino({ level: log.level, base: { service: 'unir-serve' } }, pino.destination({ fd: 1, sync: true }))
            .warn('stopped; a file-system call never returned, so the process ends itself with SIGKILL');
          process.kill(process.pid, 'SIGKILL');
          return;
        }
        log.info('stopped');
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await server.ready;
  } catch (err) {
    const message = err instanceof UnirError ? `${err.message}${err.detail ? ` (${err.detail})` : ''}` : (err as Error).stack;
    const what = err instanceof UnirError && err.code === 'provider_unavailable' ? 'the execution provider could not start' : 'the model could not be loaded';
    log.fatal({ model: options.model, code: err instanceof UnirError ? err.code : 'internal_error' }, `${what}: ${message}`);
    // Also one plain line on stderr: whatever the log level or destination, the reason is where a shell shows it.
    process.stderr.write(`unir-serve: ${what}: ${message}\n`);
    await server.close();
    process.exit(1);
  }
}

void main();
