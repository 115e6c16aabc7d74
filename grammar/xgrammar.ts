/**
 * The one place that loads xgrammar (@mlc-ai/web-xgrammar: the grammar engine of vLLM and SGLang, built to
 * WebAssembly). Its file is a UMD bundle inside a `"type": "module"` package: it reads `require` and
 * `__filename` as globals while it loads, and then sits on `globalThis.xgrammar`, so both are defined first.
 *
 * xgrammar reports a bad schema or grammar by printing `[FATAL] ...` with console.error and aborting the call
 * (the exception says only "Aborted()"); `withXgrammarErrors` turns that into an Error carrying the message.
 * An aborted call unwinds the WebAssembly stack without restoring its stack pointer: measured on 0.1.27, after
 * ~50 aborted schemas, ~85 aborted EBNF grammars or ~70 aborted regexes the instance fails every call
 * ("memory access out of bounds") or loops forever. So an instance that aborted once is never trusted again:
 * `createXgrammar` gives a fresh instance (its own WebAssembly memory) each call.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import vm from 'node:vm';
import type * as Xgrammar from '@mlc-ai/web-xgrammar';

export type XgrammarModule = typeof Xgrammar;
export type { CompiledGrammar, Grammar, GrammarCompiler, GrammarMatcher, TokenizerInfo, StructuralTagLike } from '@mlc-ai/web-xgrammar';

/** The bundle, parsed once per thread; each run makes a new instance. */
let bundle: { script: vm.Script; file: string } | null = null;
/** While a call runs under withXgrammarErrors: where xgrammar's error lines go instead of the log. */
let capture: string[] | null = null;
const consoleError = console.error;

/** xgrammar's runtime binds console.error once, when it starts: it gets this router, which can capture. */
function routeError(this: unknown, ...args: unknown[]): void {
  if (capture) capture.push(args.map(String).join(' '));
  else consoleError.apply(console, args);
}

/** A fresh xgrammar instance (tens of ms: the bundle runs again and instantiates its WebAssembly module). */
export async function createXgrammar(): Promise<XgrammarModule> {
  if (!bundle) {
    const require = createRequire(import.meta.url);
    const file = require.resolve('@mlc-ai/web-xgrammar');
    const g = globalThis as Record<string, unknown>;
    g.require ??= require;
    g.__filename ??= file;
    // The bundle's one dynamic import (node:module, for createRequire) becomes a require: a vm.Script can
    // import only with an experimental flag.
    const source = readFileSync(file, 'utf8').replace("await import('module')", "require('module')");
    bundle = { script: new vm.Script(source, { filename: file }), file };
  }
  bundle.script.runInThisContext();
  const xg = (globalThis as Record<string, unknown>).xgrammar as XgrammarModule | undefined;
  if (!xg?.GrammarCompiler) throw new Error(`@mlc-ai/web-xgrammar (${bundle.file}) did not define globalThis.xgrammar`);
  console.error = routeError;
  try {
    // The first call starts the WebAssembly runtime, which keeps the console.error it finds.
    (await xg.Grammar.fromEBNF('root ::= "a"')).dispose();
  } finally {
    console.error = consoleError;
  }
  return xg;
}

/**
 * Runs one xgrammar call; if it aborts, throws an XgrammarAbort whose message is xgrammar's own `[FATAL]` line
 * (without the C++ source path), e.g. `Unsupported type "objec"`. The instance that ran it must be replaced.
 */
export async function withXgrammarErrors<T>(call: () => Promise<T>): Promise<T> {
  const lines: string[] = [];
  capture = lines;
  try {
    return await call();
  } catch (err) {
    const reason = lines.find((l) => l.startsWith('[FATAL]'));
    // A C++ exception crosses WebAssembly as a bare number (its address), which names nothing: say so instead.
    const thrown = typeof err === 'number' ? 'xgrammar gave no reason (a C++ exception without a message)' : ((err as Error)?.message ?? String(err));
    throw new XgrammarAbort(reason ? reason.replace(/^\[FATAL\]\s*\S+:\d+:\s*/, '') : thrown);
  } finally {
    capture = null;
    for (const l of lines) if (!l.startsWith('[FATAL]') && !l.startsWith('Aborted(')) consoleError(l);
  }
}

/** An xgrammar call that aborted: the instance that ran it is no longer safe to use. */
export class XgrammarAbort extends Error {}
