import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

/** One request as haproxy logged it (the log-format below). */
export interface ProxyLogLine {
  /** The client's x-request-id. */
  id: string;
  /** The server that gave the final answer ('<NOSRV>' when none did). */
  server: string;
  status: number;
  /** Retries haproxy made (connection failures, empty responses, 503s; '+' redispatches counted in). */
  retries: number;
  /** Termination state (e.g. '----' normal, 'SD' server aborted during data). */
  termination: string;
}

export interface Haproxy {
  url: string;
  proc: ChildProcess;
  log: ProxyLogLine[];
  /** Each server's health-check status ('UP', 'DOWN', 'MAINT', 'UP 1/2'...), from the runtime API. */
  serverStatus(): Promise<Record<string, string>>;
  /** Backend counters: retries (wretr) and redispatches (wredis). */
  retryCounters(): Promise<{ retries: number; redispatches: number }>;
  stop(): Promise<void>;
}

export interface ProxyOptions {
  /** Milliseconds between health checks of /ready. */
  checkIntervalMs: number;
  /** Consecutive failed checks that mark a server down, and successes that bring it back. */
  fall: number;
  rise: number;
}

/** The haproxy configuration of the multi-replica run (docs/kubernetes.md explains each line). */
export function haproxyConfig(port: number, socket: string, servers: { name: string; port: number }[], o: ProxyOptions): string {
  return `global
  log stdout format raw local0 info
  stats socket ${socket} mode 600 level admin

defaults
  mode http
  log global
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout check 1s
  # A refused connection, a connection closed before any response, or a 503 (a draining replica refuses new
  # requests with 503 shutting_down before doing anything) is retried on another replica; the request body
  # is kept in haproxy's buffer for that. A response that has begun is never retried.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response 503

frontend api
  bind 127.0.0.1:${port}
  unique-id-format %[req.hdr(x-request-id)]
  log-format "%ID %s %ST %rc %tsc"
  default_backend replicas

backend replicas
  balance leastconn
  option httpchk GET /ready
  http-check expect status 200
  http-response set-header x-unir-replica %s
  default-server check inter ${o.checkIntervalMs} fall ${o.fall} rise ${o.rise}
${servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port}`).join('\n')}
`;
}

/** A free loopback port (haproxy cannot report the port it got for 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The Debian haproxy binary, or an error that says how to get it. */
export function requireHaproxy(): string {
  const found = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) throw new Error('haproxy is not installed: .ci/run installs it (apt-get install haproxy)');
  return found.stdout.split('\n')[0];
}

/** Starts haproxy in the foreground (-db) with its log on stdout; resolves once the frontend accepts connections. */
export async function startHaproxy(dir: string, servers: { name: string; port: number }[], o: ProxyOptions): Promise<Haproxy> {
  const port = await freePort();
  const socket = join(dir, 'haproxy.sock');
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, socket, servers, o));
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: ProxyLogLine[] = [];
  let pending = '';
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  proc.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const m = /^(\S+) (\S+) (-?\d+) \+?(\d+) (\S+)$/.exec(line);
      if (m) log.push({ id: m[1], server: m[2].split('/').pop()!, status: Number(m[3]), retries: Number(m[4]), termination: m[5] });
    }
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    if (await canConnect(port)) break;
    if (i > 200) throw new Error(`haproxy did not listen: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const stat = async (): Promise<Record<string, string>[]> => {
    const csv = await runtimeApi(socket, 'show stat');
    const [header, ...rows] = csv.trim().split('\n');
    const cols = header.replace(/^# /, '').split(',');
    return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    log,
    serverStatus: async () =>
      Object.fromEntries((await stat()).filter((r) => r.pxname === 'replicas' && r.svname !== 'BACKEND').map((r) => [r.svname, r.status])),
    retryCounters: async () => {
      const be = (await stat()).find((r) => r.pxname === 'replicas' && r.svname === 'BACKEND')!;
      return { retries: Number(be.wretr), redispatches: Number(be.wredis) };
    },
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => (s.end(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** One command on haproxy's runtime API (the stats socket); resolves with its whole answer. */
function runtimeApi(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = createConnection(socket, () => s.write(`${command}\n`));
    s.on('data', (d) => (out += d));
    s.once('end', () => resolve(out));
    s.once('error', reject);
  });
}
