import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { UnirError } from '../common/errors.js';
import type { FusionSite } from '../engine/protocol.js';
import { REASONING_PARSERS } from './chat-output/reasoning-parser.js';
import { TOOL_CALL_PARSERS } from './chat-output/tool-call-parser.js';
import { EXECUTION_PROVIDERS, type ExecutionProviderChoice } from '../models/execution-provider.js';
import { isOnnxDtype, ONNX_DTYPES, type OnnxDtype } from '../models/onnx-variant.js';

/** Every setting of the server: a CLI flag, an environment variable UNIR_<NAME>, a default. */
export interface ServerOptions {
  model: string;
  dtype: OnnxDtype | null;
  onnxFile: string | null;
  servedModelName: string | null;
  host: string;
  port: number;
  ep: ExecutionProviderChoice;
  moduleEp: ExecutionProviderChoice | null;
  allowSoftwareAdapter: boolean;
  fusionSite: FusionSite;
  deviceId: number;
  threads: number;
  moduleThreads: number;
  maxBatch: number;
  maxQueue: number;
  prefillChunk: number;
  graphCacheDir: string | null;
  keepAllLogits: boolean;
  samplerThreads: number | null;
  maxModelLen: number | null;
  reasoner: string[];
  reasonersDir: string | null;
  defaultReasoners: string | null;
  reasonerGate: number | null;
  watch: boolean;
  /** Seconds between polls of the modules root (implies watching); null: events, or polling where they are not delivered. */
  watchPoll: number | null;
  adminToken: string | null;
  apiKey: string[];
  metricsAuth: boolean;
  allowedOrigins: string[];
  chatTemplate: string | null;
  generationConfig: string;
  toolCallParser: string;
  reasoningParser: string | null;
  bodyLimit: number | null;
  bodyTimeout: number;
  streamWriteTimeout: number;
  requestTimeout: number;
  drainTimeout: number;
  moduleLoadTimeout: number;
  textWorkers: number;
  wsMaxGenerations: number;
  wsMaxMessageBytes: number;
  logLevel: string;
  noUi: boolean;
}

type Kind = 'string' | 'int' | 'number' | 'seconds' | 'timeout' | 'bool' | 'list' | 'ep' | 'dtype';

interface OptionSpec {
  key: keyof ServerOptions;
  flag: string;
  kind: Kind;
  default: ServerOptions[keyof ServerOptions];
  help: string;
  /** A list whose flag also takes comma-separated items (the environment variable always does). */
  commas?: boolean;
}

const cores = availableParallelism();
/** The range of a `seconds` option: from a tenth of a second to the longest Node.js timer (about 24.8 days). */
const MIN_SECONDS = 0.1;
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
const MAX_SAMPLER_THREADS = 64;

/** The table README's CLI reference is written from (npm run docs). */
export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'model', flag: 'model', kind: 'string', default: '', help: 'Base model directory (Hugging Face / Optimum layout). Required.' },
  {
    key: 'dtype',
    flag: 'dtype',
    kind: 'dtype',
    default: null,
    help: `ONNX variant of the base by transformers.js's name: ${ONNX_DTYPES.join(', ')} (model.onnx, model_fp16.onnx, model_q4.onnx, ... in the directory or its onnx/). Default: model.onnx, or the only variant.`,
  },
  { key: 'onnxFile', flag: 'onnx-file', kind: 'string', default: null, help: 'The base\'s ONNX file, relative to --model (or absolute); instead of --dtype.' },
  { key: 'servedModelName', flag: 'served-model-name', kind: 'string', default: null, help: 'Model id clients send; default: the model directory name.' },
  { key: 'host', flag: 'host', kind: 'string', default: '127.0.0.1', help: 'Address to listen on.' },
  { key: 'port', flag: 'port', kind: 'int', default: 8000, help: 'Port to listen on (0 picks a free one).' },
  { key: 'ep', flag: 'ep', kind: 'ep', default: 'cpu', help: 'Execution provider of the base: cpu, cuda, webgpu, or auto (tries cuda, webgpu on a hardware adapter, cpu and logs its choice).' },
  { key: 'moduleEp', flag: 'module-ep', kind: 'ep', default: null, help: 'Execution provider of reasoning modules; default (and auto): the provider the base runs on.' },
  { key: 'allowSoftwareAdapter', flag: 'allow-software-adapter', kind: 'bool', default: false, help: 'Let --ep auto choose a software WebGPU adapter (lavapipe, SwiftShader: a CPU implementation, slower than --ep cpu).' },
  { key: 'fusionSite', flag: 'fusion-site', kind: 'string', default: 'host', help: 'Where the logits of the base and the modules are summed: host (each model\'s rows come to the CPU), or device (summed on the WebGPU device, one row per sequence comes down; needs --ep webgpu).' },
  { key: 'deviceId', flag: 'device-id', kind: 'int', default: 0, help: 'GPU index for cuda (webgpu takes no index: expose one GPU with CUDA_VISIBLE_DEVICES / the container runtime).' },
  { key: 'threads', flag: 'threads', kind: 'int', default: cores, help: 'ONNX Runtime intra-op threads of the base session.' },
  { key: 'moduleThreads', flag: 'module-threads', kind: 'int', default: 1, help: 'Intra-op threads of each module session (modules run beside the base, in their own threads).' },
  { key: 'maxBatch', flag: 'max-batch', kind: 'int', default: 16, help: 'Sequences decoded together at most (running batch).' },
  { key: 'maxQueue', flag: 'max-queue', kind: 'int', default: 64, help: 'Sequences that may wait for a batch slot; beyond it requests get 429.' },
  { key: 'prefillChunk', flag: 'prefill-chunk', kind: 'int', default: 128, help: 'Prompt tokens prefilled per step, so a long prompt does not stall running streams; 0 prefills whole prompts.' },
  { key: 'graphCacheDir', flag: 'graph-cache-dir', kind: 'string', default: null, help: 'Where graphs rewritten at load are cached (an export without num_logits_to_keep gets it, so a prefill computes logits for the last position only); default: $XDG_CACHE_HOME/unir-serve/graphs; "" disables the cache.' },
  { key: 'keepAllLogits', flag: 'keep-all-logits', kind: 'bool', default: false, help: 'Serve exports without num_logits_to_keep unchanged (a prefill computes logits for every prompt position) instead of adding that input at load.' },
  { key: 'samplerThreads', flag: 'sampler-threads', kind: 'int', default: null, help: 'Threads beside the engine thread that sample the rows of a step (vocabularies of 16,384 and more); default: cores - 1, at most 4; 0 samples on the engine thread; at most 64, and no more are started than --max-batch - 1 (a step has no row for the others).' },
  { key: 'maxModelLen', flag: 'max-model-len', kind: 'int', default: null, help: 'Context served (prompt + completion); default: the model\'s max_position_embeddings.' },
  { key: 'reasoner', flag: 'reasoner', kind: 'list', default: [], help: 'A reasoning module directory to load at start (repeatable).' },
  { key: 'reasonersDir', flag: 'reasoners-dir', kind: 'string', default: null, help: 'Modules root: each subdirectory holding a unir.json is loaded; admin loads resolve paths inside it.' },
  { key: 'defaultReasoners', flag: 'default-reasoners', kind: 'string', default: null, help: 'Modules applied when a request names none, e.g. "add,sort:0.5".' },
  { key: 'reasonerGate', flag: 'reasoner-gate', kind: 'number', default: null, help: 'Entropy gate in nats for requests without reasoner_gate: modules run only where the base\'s entropy reaches it (0 or unset: every step).' },
  { key: 'watch', flag: 'watch', kind: 'bool', default: false, help: 'Watch --reasoners-dir: load new modules, replace changed ones, unload removed ones. File-system events, or polling every 2 s where the root is on a network or FUSE file system (NFS, SMB/CIFS, CephFS, 9p, FUSE); the admin API then refuses loads and unloads (the root decides, for every replica).' },
  { key: 'watchPoll', flag: 'watch-poll', kind: 'seconds', default: null, help: 'Watch --reasoners-dir by polling every N seconds (0.1 to 2147483, fractions allowed) instead of file-system events: for roots shared between hosts. Implies --watch.' },
  { key: 'adminToken', flag: 'admin-token', kind: 'string', default: null, help: 'Bearer token for the admin API; without it the admin API answers loopback clients only. Pass it as UNIR_ADMIN_TOKEN (a flag shows in ps).' },
  { key: 'apiKey', flag: 'api-key', kind: 'list', default: [], help: 'API keys: every /v1 route (but the admin ones), /tokenize, /detokenize, /openapi.json and the WebSocket upgrade then need Authorization: Bearer KEY (from a browser, a WebSocket may send the subprotocol openai-insecure-api-key.KEY with unir-serve); /health and /ready stay open. Repeatable, or comma-separated in UNIR_API_KEY (a flag shows in ps).' },
  { key: 'metricsAuth', flag: 'metrics-auth', kind: 'bool', default: false, help: 'With --api-key, /metrics needs a key too (default: open to scrapers).' },
  { key: 'allowedOrigins', flag: 'allowed-origins', kind: 'list', commas: true, default: [], help: 'Origins (scheme://host:port, or *) whose browser pages may call the API; any other cross-origin request, WebSocket included, is refused with 403.' },
  { key: 'chatTemplate', flag: 'chat-template', kind: 'string', default: null, help: 'Jinja chat template file, for models whose tokenizer_config.json has none.' },
  {
    key: 'generationConfig',
    flag: 'generation-config',
    kind: 'string',
    default: 'auto',
    help: 'Sampling defaults for fields a request omits: auto (the model\'s generation_config.json: temperature, top_p, top_k, min_p, repetition_penalty, as vLLM), none (OpenAI\'s defaults; vllm is an alias), or a directory holding a generation_config.json.',
  },
  { key: 'toolCallParser', flag: 'tool-call-parser', kind: 'string', default: 'auto', help: 'How tool calls are read from replies: hermes (<tool_call>{...}</tool_call>, Qwen), llama3_json ({"name", "parameters"}), none, or auto (guessed from the chat template).' },
  { key: 'reasoningParser', flag: 'reasoning-parser', kind: 'string', default: null, help: 'Split <think>...</think> into reasoning_content: qwen3 or deepseek_r1; default: none (the text stays in content).' },
  { key: 'bodyLimit', flag: 'body-limit', kind: 'int', default: null, help: 'Largest request body in bytes (413 beyond); default: 32 bytes per token of context, between 1 MiB and 64 MiB.' },
  { key: 'bodyTimeout', flag: 'body-timeout', kind: 'timeout', default: 30, help: 'Seconds a client may take to send a whole request (headers and body) before it gets 408 and is disconnected; 0 disables.' },
  { key: 'streamWriteTimeout', flag: 'stream-write-timeout', kind: 'timeout', default: 30, help: 'Seconds a streaming client may leave its stream unread (its generation is paused meanwhile) before the generation is cancelled; 0 disables.' },
  { key: 'requestTimeout', flag: 'request-timeout', kind: 'int', default: 600, help: 'Seconds a generation may take before it is cancelled (finish_reason "timeout" is reported as an error); 0 disables.' },
  { key: 'drainTimeout', flag: 'drain-timeout', kind: 'int', default: 30, help: 'Seconds to let requests in flight finish on SIGTERM/SIGINT before exiting.' },
  { key: 'moduleLoadTimeout', flag: 'module-load-timeout', kind: 'timeout', default: 120, help: 'Seconds a module load (copy, checks, session) may take before it is stopped and what it held freed; 0 disables.' },
  { key: 'textWorkers', flag: 'text-workers', kind: 'int', default: 2, help: 'Threads that tokenize, render chat templates and detokenize long inputs off the event loop; 0 does it on the event loop.' },
  { key: 'wsMaxGenerations', flag: 'ws-max-generations', kind: 'int', default: 8, help: 'Concurrent generations per WebSocket.' },
  { key: 'wsMaxMessageBytes', flag: 'ws-max-message-bytes', kind: 'int', default: 1024 * 1024, help: 'Largest WebSocket message in bytes.' },
  { key: 'logLevel', flag: 'log-level', kind: 'string', default: 'info', help: 'pino log level: fatal, error, warn, info, debug, trace, silent.' },
  { key: 'noUi', flag: 'no-ui', kind: 'bool', default: false, help: 'Do not serve the playground page (GET / and /playground, scripts under /ui/).' },
];

/**
 * --watch or --watch-poll: the modules root decides which modules this server runs (shared mode: every replica
 * follows the same root), so the admin API refuses loads and unloads.
 */
export function watchesModulesRoot(options: Pick<ServerOptions, 'watch' | 'watchPoll'>): boolean {
  return options.watch || options.watchPoll !== null;
}

export function envName(flag: string): string {
  return `UNIR_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * The UNIR_ variables of `env` that name no option, sorted: a typo, an option this version does not have, or a
 * Kubernetes service link (UNIR_SERVE_PORT for a Service named unir-serve). They are ignored; the CLI warns.
 */
export function unknownEnvironment(env: NodeJS.ProcessEnv): string[] {
  const known = new Set(OPTION_SPECS.map((o) => envName(o.flag)));
  return Object.keys(env).filter((name) => name.startsWith('UNIR_') && !known.has(name)).sort();
}

/** Flags win over environment variables, which win over defaults. */
export function parseServerOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerOptions {
  const spec = Object.fromEntries(
    OPTION_SPECS.map((o) => [o.flag, { type: o.kind === 'bool' ? ('boolean' as const) : ('string' as const), multiple: o.kind === 'list' }]),
  );
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: [...argv], options: { ...spec, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UnirError('invalid_request', `${(err as Error).message} (see --help)`);
  }
  const out: Record<string, unknown> = {};
  for (const o of OPTION_SPECS) {
    const raw = values[o.flag] ?? env[envName(o.flag)];
    out[o.key] = raw === undefined ? o.default : convert(o, raw);
  }
  const options = out as unknown as ServerOptions;
  if (options.maxBatch < 1) throw new UnirError('invalid_request', '--max-batch must be at least 1');
  if (options.samplerThreads !== null && options.samplerThreads > MAX_SAMPLER_THREADS) {
    // Each is a Node.js worker of about 30 MB that only pays with a core of its own.
    throw new UnirError('invalid_request', `--sampler-threads: at most ${MAX_SAMPLER_THREADS}, got ${options.samplerThreads} (more threads than cores only adds memory)`);
  }
  if (options.fusionSite !== 'host' && options.fusionSite !== 'device') {
    throw new UnirError('invalid_request', `--fusion-site: expected host or device, got ${JSON.stringify(options.fusionSite)}`);
  }
  if (options.fusionSite === 'device' && options.reasonerGate) {
    throw new UnirError('invalid_request', '--reasoner-gate needs the base\'s logits on the host to gate: it cannot be combined with --fusion-site device');
  }
  if (!['auto', 'none', ...TOOL_CALL_PARSERS].includes(options.toolCallParser)) {
    throw new UnirError('invalid_request', `--tool-call-parser: expected auto, none, ${TOOL_CALL_PARSERS.join(', ')}, got ${JSON.stringify(options.toolCallParser)}`);
  }
  if (options.reasoningParser !== null && !(REASONING_PARSERS as readonly string[]).includes(options.reasoningParser)) {
    throw new UnirError('invalid_request', `--reasoning-parser: expected ${REASONING_PARSERS.join(' or ')}, got ${JSON.stringify(options.reasoningParser)}`);
  }
  if (!options.model) throw new UnirError('invalid_request', `--model DIR (or ${envName('model')}) is required`);
  if (options.dtype && options.onnxFile) throw new UnirError('invalid_request', 'give either --dtype or --onnx-file, not both');
  if (watchesModulesRoot(options) && !options.reasonersDir) {
    throw new UnirError('invalid_request', '--watch and --watch-poll need --reasoners-dir DIR (the modules root to follow)');
  }
  return options;
}

function convert(o: OptionSpec, raw: unknown): unknown {
  const bad = (what: string) => new UnirError('invalid_request', `--${o.flag}: ${what}, got ${JSON.stringify(raw)}`);
  switch (o.kind) {
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (/^(1|true|yes)$/i.test(String(raw))) return true;
      if (/^(0|false|no|)$/i.test(String(raw))) return false;
      throw bad('expected true or false');
    case 'int': {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw bad('expected a non-negative integer');
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (String(raw).trim() === '' || !Number.isFinite(n) || n < 0) throw bad('expected a non-negative number');
      return n;
    }
    case 'seconds': {
      // Node.js timers hold at most 2^31-1 ms and fire after 1 ms beyond it; under 0.1 s a poll is a busy loop.
      const n = Number(raw);
      if (String(raw).trim() === '' || !(n >= MIN_SECONDS && n <= MAX_SECONDS)) throw bad(`expected a number of seconds from ${MIN_SECONDS} to ${MAX_SECONDS}`);
      return n;
    }
    case 'timeout': {
      const n = Number(raw);
      if (String(raw).trim() === '' || !Number.isFinite(n) || n < 0) throw bad('expected a non-negative number of seconds (0 disables)');
      return n;
    }
    case 'list': {
      // Items are trimmed: "UNIR_API_KEY=k1, k2" must give the key "k2", not " k2" that no client can send.
      if (!Array.isArray(raw)) return String(raw).split(',').map((item) => item.trim()).filter(Boolean);
      const items = raw.flatMap((item) => (o.commas ? String(item).split(',') : [String(item)])).map((item) => item.trim());
      // An explicitly empty flag (--api-key "$UNSET_VARIABLE") is a mistake, not "no keys": refused.
      if (items.some((item) => item === '')) throw bad('expected a non-empty value');
      return items;
    }
    case 'dtype':
      if (!isOnnxDtype(raw)) throw bad(`expected one of ${ONNX_DTYPES.join(', ')}`);
      return raw;
    case 'ep':
      if (!EXECUTION_PROVIDERS.includes(raw as ExecutionProviderChoice)) throw bad(`expected one of ${EXECUTION_PROVIDERS.join(', ')}`);
      return raw;
    default:
      return String(raw);
  }
}

export function helpText(): string {
  const lines = OPTION_SPECS.map((o) => `  --${o.flag.padEnd(22)} ${o.help} [${envName(o.flag)}${o.default !== null && o.default !== '' ? `, default ${JSON.stringify(o.default)}` : ''}]`);
  const info = ['  --help, -h               This text.', '  --version, -v            The version, then exit.'];
  return `unir-serve --model DIR [options]\n\n${lines.join('\n')}\n${info.join('\n')}\n`;
}
