/**
 * The one place that loads xgrammar (@mlc-ai/web-xgrammar: the grammar engine of vLLM and SGLang, built to
 * WebAssembly). Its file is a UMD bundle inside a `"type": "module"` package: it reads `require` and
 * `__filename` as globals while it loads, and then sits on `globalThis.xgrammar`, so both are defined first.
 *
 * xgrammar reports a bad schema or grammar by printing `[FATAL] ...` with console.error and aborting the call
 * (the exception says only "Aborted()"); `withXgrammarErrors` turns that into an Error carrying the message.
 */
import { createRequire } from 'node:module';
import type * as Xgrammar from '@mlc-ai/web-xgrammar';

export type XgrammarModule = typeof Xgrammar;
export type { CompiledGrammar, GrammarCompiler, GrammarMatcher, TokenizerInfo, StructuralTagLike } from '@mlc-ai/web-xgrammar';

let loading: Promise<XgrammarModule> | null = null;
/** While a call runs under withXgrammarErrors: where xgrammar's error lines go instead of the log. */
let capture: string[] | null = null;
const consoleError = console.error;

/** xgrammar's runtime binds console.error once, when it starts: it gets this router, which can capture. */
function routeError(this: unknown, ...args: unknown[]): void {
  if (capture) capture.push(args.map(String).join(' '));
  else consoleError.apply(console, args);
}

/** Loads the bundle once per thread (each worker thread has its own WebAssembly instance). */
export function loadXgrammar(): Promise<XgrammarModule> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const file = require.resolve('@mlc-ai/web-xgrammar');
    const g = globalThis as Record<string, unknown>;
    g.require ??= require;
    g.__filename ??= file;
    await import(file);
    const xg = g.xgrammar as XgrammarModule | undefined;
    if (!xg?.GrammarCompiler) throw new Error(`@mlc-ai/web-xgrammar (${file}) did not define globalThis.xgrammar`);
    console.error = routeError;
    try {
      // The first call starts the WebAssembly runtime, which keeps the console.error it finds.
      (await xg.Grammar.fromEBNF('root ::= "a"')).dispose();
    } finally {
      console.error = consoleError;
    }
    return xg;
  })();
  return loading;
}

/**
 * Runs one xgrammar call; if it aborts, throws an Error whose message is xgrammar's own `[FATAL]` line
 * (without the C++ source path), e.g. `Unsupported type "objec"`.
 */
export async function withXgrammarErrors<T>(call: () => Promise<T>): Promise<T> {
  const lines: string[] = [];
  capture = lines;
  try {
    return await call();
  } catch (err) {
    const reason = lines.find((l) => l.startsWith('[FATAL]'));
    throw new Error(reason ? reason.replace(/^\[FATAL\]\s*\S+:\d+:\s*/, '') : ((err as Error)?.message ?? String(err)));
  } finally {
    capture = null;
    for (const l of lines) if (!l.startsWith('[FATAL]') && !l.startsWith('Aborted(')) consoleError(l);
  }
}
