import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '../../adapters/content-hash.js';
import { spawnCli, type CliChild } from '../../scripts/cli-child.js';
import { requireHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { MixedLoad, type RequestRecord } from '../helpers/mixed-load.js';
import { postJson } from '../helpers/server.js';

/**
 * Three replicas (the real CLI, child processes) on the demo models share one modules root, which each follows by
 * polling (--watch-poll), behind haproxy with health checks on /ready, under a bounded mixed load through the
 * proxy (openai client, no client retries). docs/kubernetes.md and README quote the figures printed at the end.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEMO = join(ROOT, 'demo-models');
const POLL_S = 1;
/** The watcher's debounce (the CLI's default): one look after it, a second one after it again. */
const DEBOUNCE_S = 0.5;
/** The stated bound (docs/kubernetes.md): poll interval + 4 debounces + the module's load time on the replica. */
const boundMs = (loadMs: number) => (POLL_S + 4 * DEBOUNCE_S) * 1000 + loadMs;
/**
 * The bound assumes each replica gets CPU when its timers fire. CI shares 2 cores between three replicas, the load,
 * haproxy and other jobs, and every step of the chain (poll, debounce, load) stretches with the run queue: the
 * assertion allows 3x the bound, times the load average per core when that is above 1. The figures printed show
 * the real times and the load average.
 */
const allowance = () => 3 * Math.max(1, loadavg()[0] / availableParallelism());

interface Replica {
  name: string;
  port: number;
  url: string;
  cli: CliChild;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 30_000, everyMs = 50): Promise<T> {
  const t0 = performance.now();
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(everyMs);
  }
}

let dir: string;
let modules: string;
let proxy: Haproxy;
let load: MixedLoad;
const replicas: Replica[] = [];
const figures: Json = {};

function spawnReplica(name: string, port: number): CliChild {
  return spawnCli(
    ['--import', 'tsx', 'server/cli.ts', '--model', join(DEMO, 'base'), '--served-model-name', 'unir-demo', '--reasoners-dir', modules,
      '--watch-poll', String(POLL_S), '--port', String(port), '--threads', '1', '--drain-timeout', '20'],
    { cwd: ROOT },
  );
}

async function startReplica(name: string, port: number): Promise<Replica> {
  const cli = spawnReplica(name, port);
  const url = await cli.listening;
  const replica = { name, port: Number(new URL(url).port), url, cli };
  await until(`${name} ready`, async () => (await fetch(`${url}/ready`)).status === 200);
  return replica;
}

const reasoners = async (r: Replica): Promise<Json[]> => ((await (await fetch(`${r.url}/v1/reasoners`)).json()) as Json).data;

/** inotify instances the process holds (fs.watch creates one; polling none). */
function inotifyInstances(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:inotify';
    } catch {
      return false;
    }
  }).length;
}

/** Waits until no request that started before `t` is in flight. */
const settled = (t: number) => until('requests settled', async () => load.records.every((r) => r.start >= t || r.end !== null));
const failures = (records: RequestRecord[]) => records.filter((r) => !r.ok).map((r) => ({ id: r.id, kind: r.kind, replica: r.replica, error: r.error }));

/**
 * Until every replica's entries named `name` (the ready version, and any still draining or failed) are as `check`
 * wants; returns each replica's time (ms after `since`) and its ready entry.
 */
async function everywhere(name: string, since: number, check: (entries: Json[]) => boolean): Promise<{ ms: number; entry: Json | undefined }[]> {
  return Promise.all(
    replicas.map(async (r) => {
      const entries = await until(`${r.name}: ${name}`, async () => {
        const list = (await reasoners(r)).filter((i) => i.name === name);
        return check(list) ? list : null;
      }, 60_000, 25);
      return { ms: Math.round(performance.now() - since), entry: entries.find((e) => e.state === 'ready') };
    }),
  );
}
const ready = (entries: Json[]) => entries.find((e) => e.state === 'ready');

/** POSTs through the proxy until every replica has answered; returns each replica's answer. */
async function throughProxyFromEach(body: Json): Promise<Map<string, { status: number; body: Json }>> {
  const answers = new Map<string, { status: number; body: Json }>();
  for (let i = 0; i < 90 && answers.size < replicas.length; i++) {
    const res = await postJson(`${proxy.url}/v1/completions`, body, { 'x-request-id': `probe-${i}-${Date.now()}` });
    const replica = res.headers.get('x-unir-replica');
    if (replica && !answers.has(replica)) answers.set(replica, { status: res.status, body: res.body });
  }
  return answers;
}

/** A long stream held open on one replica: `ended` settles when the stream ends (ok: it ended with a finish_reason). */
interface HeldStream {
  id: string;
  chunks: () => number;
  ended: Promise<{ ok: boolean; finishReason: string | null; chunks: number; error: string | null }>;
}

/**
 * Opens long streams (ignore_eos, 300 tokens) through the proxy until one is answered by `replica`, and returns it
 * once its first chunk has arrived, so the replica has it in flight. The load's own requests are short (16 tokens)
 * and on a fast machine may never be seen in flight on a given replica; this one is, by construction.
 */
async function holdStreamOn(replica: string): Promise<HeldStream> {
  for (let attempt = 0; attempt < 60; attempt++) {
    const id = `held-${replica}-${attempt}-${Date.now()}`;
    const controller = new AbortController();
    const res = await fetch(`${proxy.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({ model: 'unir-demo', prompt: 'sort 8 2 6 4=', max_tokens: 300, ignore_eos: true, temperature: 0, stream: true }),
      signal: controller.signal,
    });
    if (res.status !== 200 || res.headers.get('x-unir-replica') !== replica) {
      controller.abort();
      await res.body?.cancel().catch(() => {});
      continue;
    }
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let chunks = 0;
    let firstChunk!: () => void;
    const started = new Promise<void>((r) => (firstChunk = r));
    const ended = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
          chunks = text.split('\n\n').filter((e) => e.startsWith('data: {')).length;
          if (chunks > 0) firstChunk();
        }
        const events = text.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as Json);
        const finishReason = events.flatMap((e) => e.choices ?? []).find((c: Json) => c.finish_reason)?.finish_reason ?? null;
        const error = events.find((e) => e.error)?.error?.message ?? null;
        return { ok: finishReason !== null && error === null && text.includes('data: [DONE]'), finishReason, chunks, error };
      } catch (err) {
        return { ok: false, finishReason: null, chunks, error: (err as Error).message };
      } finally {
        firstChunk();
      }
    })();
    await started;
    return { id, chunks: () => chunks, ended };
  }
  throw new Error(`no stream answered by ${replica} in 60 attempts`);
}

beforeAll(async () => {
  figures.haproxy = requireHaproxy();
  dir = mkdtempSync(join(tmpdir(), 'unir-cluster-'));
  modules = join(dir, 'modules');
  mkdirSync(modules);
  cpSync(join(DEMO, 'reasoners', 'sort'), join(modules, 'sort'), { recursive: true });
  const t0 = performance.now();
  replicas.push(...(await Promise.all(['r0', 'r1', 'r2'].map((name) => startReplica(name, 0)))));
  figures.replicasReadyMs = Math.round(performance.now() - t0);
  proxy = await startHaproxy(dir, replicas.map((r) => ({ name: r.name, port: r.port })), { checkIntervalMs: 200, fall: 2, rise: 2 });
  await until('all replicas UP in haproxy', async () => Object.values(await proxy.serverStatus()).every((s) => s === 'UP'));
  load = new MixedLoad(proxy.url, ['unir-demo', 'unir-demo+sort'], { concurrency: 3, maxTokens: 16, maxRequests: 20_000 });
  load.start();
  await sleep(500);
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await proxy?.stop();
  for (const r of replicas) if (r.cli.proc.exitCode === null && r.cli.proc.signalCode === null) r.cli.proc.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.cli.exited));
  if (dir) rmSync(dir, { recursive: true, force: true });
  figures.requests = load?.records.length;
  figures.failed = load?.records.filter((r) => !r.ok).length;
  console.log(`multi-replica run: ${JSON.stringify(figures, null, 1)}`);
}, 60_000);

describe('three replicas behind haproxy sharing one modules root', () => {
  it('a module copied into the root is served by every replica, through the proxy, within the stated bound; polling, no inotify', async () => {
    const started = performance.now();
    cpSync(join(DEMO, 'reasoners', 'add'), join(modules, 'add'), { recursive: true });
    const copied = performance.now();
    const seen = await everywhere('add', copied, (l) => ready(l) !== undefined);
    const hash = await contentHash(join(modules, 'add'));
    for (const { ms, entry } of seen) {
      expect(entry!.content_hash).toBe(hash);
      expect(ms).toBeLessThanOrEqual(allowance() * boundMs(entry!.load_ms));
    }
    // allowance: the factor the assertion above granted over the bound (docs/kubernetes.md, The bound).
    figures.drop = { loadAverage: loadavg()[0], allowance: Math.round(allowance() * 10) / 10, copyMs: Math.round(copied - started), servedAfterMs: seen.map((s) => s.ms), loadMs: seen.map((s) => s.entry!.load_ms), boundMs: seen.map((s) => boundMs(s.entry!.load_ms)) };

    const answers = await throughProxyFromEach({ model: 'unir-demo+add', prompt: 'add 4821+937=', max_tokens: 64, temperature: 0 });
    expect([...answers.keys()].sort()).toEqual(['r0', 'r1', 'r2']);
    for (const a of answers.values()) {
      expect(a.status).toBe(200);
      expect(a.body.choices[0].text).toMatch(/answer=5758$/);
    }
    for (const r of replicas) {
      expect(inotifyInstances(r.cli.proc.pid!)).toBe(0);
      expect(r.cli.logs.find((l) => l.msg === 'watching the modules root by polling')).toMatchObject({ mode: 'poll', pollMs: POLL_S * 1000 });
    }
    load.models = ['unir-demo', 'unir-demo+sort', 'unir-demo+add'];
  });

  it('a replaced module is swapped everywhere (one new hash), a removed one unloaded everywhere; requests using it never fail', async () => {
    const usingAdd = () => load.records.filter((r) => r.model.endsWith('+add'));
    await until('requests using add', async () => usingAdd().length >= 6, 30_000); // they keep running during the swap
    const manifest = JSON.parse(readFileSync(join(modules, 'add', 'unir.json'), 'utf8'));
    writeFileSync(join(dir, 'unir.json.new'), JSON.stringify({ ...manifest, version: '1.0.1' }));
    const replacedAt = performance.now();
    renameSync(join(dir, 'unir.json.new'), join(modules, 'add', 'unir.json'));
    const swapped = await everywhere('add', replacedAt, (l) => ready(l)?.version === '1.0.1');
    const hash = await contentHash(join(modules, 'add'));
    for (const { ms, entry } of swapped) {
      expect(entry!.content_hash).toBe(hash);
      expect(ms).toBeLessThanOrEqual(allowance() * boundMs(entry!.load_ms));
    }
    // The old version drains: requests in flight finish on it, then it is released.
    const drained = await everywhere('add', replacedAt, (l) => l.length === 1);
    load.models = ['unir-demo', 'unir-demo+sort'];
    await settled(performance.now());
    const usedAdd = usingAdd();
    expect(usedAdd.length).toBeGreaterThan(6);
    expect(failures(usedAdd)).toEqual([]);
    // The requests that ran while the replicas swapped it (from the new manifest to the last old version released).
    const swapEnd = replacedAt + Math.max(...drained.map((d) => d.ms));
    const duringSwap = usedAdd.filter((r) => r.start < swapEnd && r.end! > replacedAt);
    expect(duringSwap.length).toBeGreaterThan(0);

    const removedAt = performance.now();
    rmSync(join(modules, 'add'), { recursive: true });
    const gone = await everywhere('add', removedAt, (l) => ready(l) === undefined);
    const answers = await throughProxyFromEach({ model: 'unir-demo+add', prompt: 'add 1+2=', max_tokens: 4 });
    expect([...answers.keys()].sort()).toEqual(['r0', 'r1', 'r2']);
    for (const a of answers.values()) expect(a.body.error?.code).toBe('reasoner_not_found');
    figures.replace = { loadAverage: loadavg()[0], servedAfterMs: swapped.map((s) => s.ms), loadMs: swapped.map((s) => s.entry!.load_ms), oldVersionReleasedAfterMs: drained.map((s) => s.ms), requestsUsingAdd: usedAdd.length, requestsUsingAddDuringSwap: duringSwap.length, failed: 0 };
    figures.remove = { unloadedAfterMs: gone.map((s) => s.ms) };
  });

  it('rolling restart (SIGTERM one replica at a time, wait until haproxy has it UP again): 0 failed requests', async () => {
    const t0 = performance.now();
    const restarts: Json[] = [];
    for (let i = 0; i < replicas.length; i++) {
      const old = replicas[i];
      // SIGTERM while a long stream runs on it: the drain has something to finish.
      const held = await holdStreamOn(old.name);
      const termAt = performance.now();
      old.cli.proc.kill('SIGTERM');
      expect(await old.cli.exited).toEqual({ code: 0, signal: null });
      const exitedAt = performance.now();
      const heldEnd = await held.ended;
      expect(heldEnd, JSON.stringify(heldEnd)).toMatchObject({ ok: true, finishReason: "length" });
      replicas[i] = await startReplica(old.name, old.port);
      await until(`${old.name} UP again`, async () => (await proxy.serverStatus())[old.name] === 'UP');
      restarts.push({ replica: old.name, termAt, drainMs: Math.round(exitedAt - termAt), backUpMs: Math.round(performance.now() - termAt), heldStreamChunks: heldEnd.chunks });
    }
    const t1 = performance.now();
    await settled(t1);
    // Every request that was running at some point of the restart.
    const during = load.records.filter((r) => r.start < t1 && r.end! > t0);
    const served = new Set(during.map((r) => r.replica));
    expect(failures(during)).toEqual([]);
    for (const r of restarts) {
      // Requests running on the replica when it got SIGTERM, all completed by its drain.
      // (besides the held stream, which the drain completed above; the load's short ones may or may not overlap)
      const onIt = during.filter((q) => q.replica === r.replica && q.start < r.termAt && q.end! > r.termAt);
      expect(onIt.every((q) => q.ok)).toBe(true);
      r.loadRequestsInFlightOnItAtSigterm = onIt.length;
      delete r.termAt;
    }
    expect(during.length).toBeGreaterThan(100);
    expect(served).toEqual(new Set(['r0', 'r1', 'r2']));
    const counters = await proxy.retryCounters();
    figures.rollingRestart = { loadAverage: loadavg()[0], seconds: Math.round((t1 - t0) / 100) / 10, requests: during.length, failed: 0, restarts, haproxyRetriesSoFar: counters };
  }, 120_000);

  it('SIGKILL of one replica fails at most the requests it had in flight, and none once haproxy marks it down', async () => {
    const victim = replicas[1];
    const phaseStart = performance.now();
    // Kill while a stream is running on it: that one must fail (cut), not end as if complete.
    const held = await holdStreamOn(victim.name);
    const killAt = performance.now();
    victim.cli.proc.kill('SIGKILL');
    expect((await held.ended).ok).toBe(false);
    await until('haproxy marks the victim DOWN', async () => (await proxy.serverStatus())[victim.name].startsWith('DOWN'), 10_000, 10);
    const downAt = performance.now();
    await sleep(2000);
    const end = performance.now();
    await settled(end);
    await sleep(200); // haproxy logs a request when it ends

    const byId = new Map(proxy.log.map((l) => [l.id, l]));
    // Every request that ran during the phase, including those already running when it began.
    const records = load.records.filter((r) => r.start < end && r.end! > phaseStart);
    const inFlightAtKill = records.filter((r) => r.start < killAt && r.end! > killAt);
    const onVictim = inFlightAtKill.filter((r) => r.replica === victim.name || byId.get(r.id)?.server === victim.name);
    const retried = inFlightAtKill.filter((r) => r.ok && (byId.get(r.id)?.retries ?? 0) > 0);
    const failed = records.filter((r) => !r.ok);
    const afterKill = records.filter((r) => r.start >= killAt && r.start < downAt);
    const afterDown = records.filter((r) => r.start >= downAt);

    // Every failure was in flight on the victim when it died.
    for (const f of failed) expect(onVictim.map((r) => r.id)).toContain(f.id);
    expect(failures(afterKill)).toEqual([]);
    expect(failures(afterDown)).toEqual([]);
    expect(afterDown.length).toBeGreaterThan(5);
    figures.sigkill = {
      loadAverage: loadavg()[0],
      inFlightOverallAtKill: inFlightAtKill.length,
      inFlightOnVictimAtKill: onVictim.length,
      retriedByHaproxyAndSucceeded: retried.length,
      failed: failed.length,
      failedKinds: failed.map((f) => f.kind),
      markedDownAfterMs: Math.round(downAt - killAt),
      requestsBetweenKillAndDown: afterKill.length,
      failedBetweenKillAndDown: failures(afterKill).length,
      requestsAfterDown: afterDown.length,
      failedAfterDown: failures(afterDown).length,
    };
  }, 60_000);
});
