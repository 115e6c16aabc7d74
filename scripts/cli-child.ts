import { spawn, type ChildProcess } from 'node:child_process';

export interface LogEntry {
  msg: string;
  level?: number;
  url?: string;
  [key: string]: unknown;
}

export interface CliChild {
  proc: ChildProcess;
  /** pino's JSON lines so far. */
  logs: LogEntry[];
  /** The server's url, once it logs that it listens (before the model is loaded). */
  listening: Promise<string>;
  /** Resolves once the process has exited and its output has been read to the end. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The server CLI as a child process (`node <argv>`), its JSON log lines parsed as they arrive. Used where the
 * process itself is under test: signals and exit codes, or its RSS alone.
 */
export function spawnCli(argv: string[], opts: { cwd: string; onLine?: (line: string, entry: LogEntry | null) => void }): CliChild {
  const proc = spawn(process.execPath, argv, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogEntry[] = [];
  // 'close', not 'exit': by then its stdout has been read to the end, so `logs` holds every line it wrote.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const listening = new Promise<string>((resolve, reject) => {
    let buffered = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        let entry: LogEntry | null = null;
        try {
          entry = JSON.parse(line) as LogEntry;
          logs.push(entry);
          if (typeof entry.url === 'string') resolve(entry.url);
        } catch {
          // not a log line (a crash trace): passed to onLine as text
        }
        opts.onLine?.(line, entry);
      }
    });
    void exited.then((e) => reject(new Error(`the CLI exited before listening (${JSON.stringify(e)}): ${stderr}`)));
  });
  return { proc, logs, listening, exited };
}
