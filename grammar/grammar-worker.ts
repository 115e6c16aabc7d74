/**
 * Worker entry for grammars: every xgrammar object of one engine lives here, off the engine's step loop and
 * off the HTTP thread. Per decode step the engine posts `commit(token)` right after sampling; this thread
 * advances the matcher and computes the next mask while the models run the next step, so the engine finds the
 * mask waiting when it samples. Compiles run here too, announced as `busy` so the engine does not wait on them.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { serializeError, UnirError } from '../common/errors.js';
import { GrammarProbe } from './grammar-probe.js';
import type { EngineToGrammar, FromGrammarWorker, GrammarToEngine, GrammarWorkerOptions, GrammarWorkerStats, ToGrammarWorker } from './grammar-protocol.js';
import { GrammarRuntime } from './grammar-runtime.js';
import { grammarKey, type GrammarSpec } from './grammar-spec.js';
import { SequenceMatcher } from './sequence-matcher.js';
import { Utf8TokenMasks } from './utf8-token-masks.js';
import { readVocabBytes } from './vocab-bytes.js';

const options = workerData as GrammarWorkerOptions;
const engine = options.enginePort;
const toMain = (msg: FromGrammarWorker) => parentPort!.postMessage(msg);
const toEngine = (msg: GrammarToEngine, transfer: ArrayBuffer[] = []) => engine.postMessage(msg, transfer);

const vocab = readVocabBytes(options.tokenizerPath, options.vocabSize);
const utf8 = new Utf8TokenMasks(vocab.tokens);
const probe = new GrammarProbe();
const sequences = new Map<number, SequenceMatcher>();
let runtime: Promise<GrammarRuntime> | null = null;
const counts = { runtimes: 0, compileMs: 0, hits: 0, misses: 0 };
let busyDepth = 0;

/**
 * Brackets work that may take long. The notice goes out first, then the engine's queued commits are served:
 * a commit the engine posted before it saw the notice gets its mask before the work starts.
 */
async function busy<T>(work: () => Promise<T>): Promise<T> {
  if (busyDepth++ === 0) toEngine({ type: 'busy', busy: true });
  try {
    await serveEngine();
    return await work();
  } finally {
    if (--busyDepth === 0) toEngine({ type: 'busy', busy: false });
  }
}

/**
 * Handles the engine's queued commits and closes, in order, before long work starts. Opens (long work
 * themselves) are taken off the queue and run after it.
 */
async function serveEngine(): Promise<void> {
  const opens: EngineToGrammar[] = [];
  for (let m = receiveMessageOnPort(engine); m; m = receiveMessageOnPort(engine)) {
    const msg = m.message as EngineToGrammar;
    if (msg.type === 'open') opens.push(msg);
    else await onEngine(msg);
  }
  if (opens.length > 0) setImmediate(() => opens.forEach((msg) => void onEngine(msg)));
}

/** The runtime new work goes to: a fresh one when there is none or the last one was tainted by an abort. */
async function current(): Promise<GrammarRuntime> {
  for (;;) {
    const pending = runtime;
    const rt = pending ? await pending.catch(() => null) : null;
    if (rt && !rt.tainted) return rt;
    // Another caller replaced it while this one waited.
    if (runtime !== pending) continue;
    if (rt) addStats(rt);
    counts.runtimes++;
    const created = busy(() => GrammarRuntime.create(vocab, options.eosTokenIds));
    runtime = created;
    // A failed start is reported to its caller and retried by the next one.
    return created.catch((err) => {
      if (runtime === created) runtime = null;
      throw err;
    });
  }
}

type Compiled = { rt: GrammarRuntime; grammar: Awaited<ReturnType<GrammarRuntime['get']>> };
/** Compiles under way, by spec key: requests that send the same new schema at once share one compile. */
const compiling = new Map<string, Promise<Compiled>>();

/** The compiled grammar of a spec: a cache hit at once; a miss is checked by the probe, then compiled (busy). */
async function compiled(spec: GrammarSpec): Promise<Compiled> {
  const rt = await current();
  if (rt.has(spec)) return { rt, grammar: await rt.get(spec) };
  const key = grammarKey(spec);
  const pending = compiling.get(key);
  if (pending) return pending;
  const work = busy(async () => {
    await probe.check(spec);
    return { rt, grammar: await rt.get(spec) };
  }).finally(() => compiling.delete(key));
  compiling.set(key, work);
  return work;
}

async function open(seqId: number, spec: GrammarSpec, stopTokenIds: number[]): Promise<void> {
  try {
    const { rt, grammar } = await compiled(spec);
    const matcher = await SequenceMatcher.create(rt, grammar, stopTokenIds, utf8);
    sequences.set(seqId, matcher);
    await sendMask(seqId, matcher);
  } catch (err) {
    toEngine({ type: 'failed', seqId, error: serializeError(err) });
  }
}

async function commit(seqId: number, tokenId: number): Promise<void> {
  const matcher = sequences.get(seqId);
  if (!matcher) return;
  if (!matcher.accept(tokenId)) {
    toEngine({ type: 'failed', seqId, error: serializeError(new UnirError('internal_error', `the grammar refused token ${tokenId}: no token it allows had a finite logit`)) });
    return;
  }
  if (matcher.terminated) toEngine({ type: 'complete', seqId });
  else await sendMask(seqId, matcher);
}

async function sendMask(seqId: number, matcher: SequenceMatcher): Promise<void> {
  try {
    const mask = await matcher.nextMask();
    toEngine({ type: 'mask', seqId, mask }, [mask.buffer as ArrayBuffer]);
  } catch (err) {
    toEngine({ type: 'failed', seqId, error: serializeError(err) });
  }
}

function onEngine(msg: EngineToGrammar): Promise<void> {
  switch (msg.type) {
    case 'open':
      return open(msg.seqId, msg.spec, msg.stopTokenIds);
    case 'commit':
      return commit(msg.seqId, msg.tokenId);
    case 'close':
      sequences.get(msg.seqId)?.dispose();
      sequences.delete(msg.seqId);
      return Promise.resolve();
  }
}

function addStats(rt: GrammarRuntime): void {
  counts.compileMs += rt.stats.compileMs;
  counts.hits += rt.stats.hits;
  counts.misses += rt.stats.misses;
}

async function stats(): Promise<GrammarWorkerStats> {
  const rt = runtime ? await runtime.catch(() => null) : null;
  const s = rt?.stats ?? { compileMs: 0, hits: 0, misses: 0 };
  return { compileMs: counts.compileMs + s.compileMs, hits: counts.hits + s.hits, misses: counts.misses + s.misses, runtimes: counts.runtimes, probes: probe.instances, matchers: sequences.size, externalBytes: process.memoryUsage().external };
}

engine.on('message', (msg: EngineToGrammar) => void onEngine(msg));
parentPort!.on('message', (msg: ToGrammarWorker) => {
  if (msg.type === 'compile') {
    compiled(msg.spec).then(
      () => toMain({ type: 'compiled', requestId: msg.requestId, error: null }),
      (err) => toMain({ type: 'compiled', requestId: msg.requestId, error: serializeError(err) }),
    );
  } else {
    void stats().then((s) => toMain({ type: 'stats', requestId: msg.requestId, stats: s }));
  }
});
