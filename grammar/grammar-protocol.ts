import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../common/errors.js';
import type { GrammarSpec } from './grammar-spec.js';

/**
 * The grammar worker's messages. It owns every xgrammar object of one engine (runtimes, compiled grammars,
 * matchers): the main thread asks it to compile (to refuse a bad spec with a 400 before a response starts);
 * the engine worker, over its own port, opens a matcher per sequence and commits each sampled token.
 */
export interface GrammarWorkerOptions {
  tokenizerPath: string;
  /** The logits' row count. */
  vocabSize: number;
  eosTokenIds: number[];
  /** The engine's end of the channel is given to the engine worker. */
  enginePort: MessagePort;
}

export interface GrammarWorkerStats {
  compileMs: number;
  hits: number;
  misses: number;
  /** Serving runtimes created (one, plus one after each that an xgrammar call aborted in). */
  runtimes: number;
  /** Probe instances created (one, plus one per spec that aborted xgrammar). */
  probes: number;
  /** Open matchers. */
  matchers: number;
  /** The worker's memory outside its JS heap (WebAssembly memories are most of it), bytes. */
  externalBytes: number;
}

/** Main thread → grammar worker. */
export type ToGrammarWorker = { type: 'compile'; requestId: number; spec: GrammarSpec } | { type: 'stats'; requestId: number };

/** Grammar worker → main thread. */
export type FromGrammarWorker =
  | { type: 'compiled'; requestId: number; error: SerializedError | null }
  | { type: 'stats'; requestId: number; stats: GrammarWorkerStats };

/**
 * Engine → grammar worker. `open` compiles (or finds) the spec and makes the sequence's matcher; `commit`
 * advances it by the sampled token; `close` frees it.
 */
export type EngineToGrammar =
  | { type: 'open'; seqId: number; spec: GrammarSpec; stopTokenIds: number[] }
  | { type: 'commit'; seqId: number; tokenId: number }
  | { type: 'close'; seqId: number };

/**
 * Grammar worker → engine. `mask`: the ids allowed at the sequence's next sample (after open: its first);
 * `complete`: the grammar accepted a stop token; `failed`: the sequence cannot go on (open: its spec does not
 * compile). `busy` brackets work that can take long (a compile, a new runtime): masks of the sequences not yet
 * served wait behind it, so the engine leaves those sequences out of its steps meanwhile.
 */
export type GrammarToEngine =
  | { type: 'mask'; seqId: number; mask: Int32Array }
  | { type: 'complete'; seqId: number }
  | { type: 'failed'; seqId: number; error: SerializedError }
  | { type: 'busy'; busy: boolean };
