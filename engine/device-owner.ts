import type { ExecutionProvider } from '../models/execution-provider.js';

/**
 * Providers whose device state is process-wide and must be driven from one thread. The WebGPU provider keeps one
 * device context per process (command encoder, pipeline cache, buffer pools) with no locking: sessions run from
 * two threads at once corrupt it (ONNX Runtime fails "compute_pipeline has no value", then the process aborts).
 * CPU sessions are independent, and the CUDA provider supports concurrent runs from several threads.
 */
export const ONE_THREAD_PER_DEVICE: ReadonlySet<ExecutionProvider> = new Set(['webgpu']);

/**
 * Where a module version's session lives and runs:
 * - 'own-worker': a worker thread of its own, running in parallel with the base (cpu, cuda);
 * - 'engine-thread': the engine thread, beside the base, when both are on the same one-thread provider: that
 *   thread is the device's only owner;
 * - 'device-worker': one worker shared by every module on a one-thread provider the base does not use.
 */
export type ModulePlacement = 'own-worker' | 'engine-thread' | 'device-worker';

export function modulePlacement(baseEp: ExecutionProvider, moduleEp: ExecutionProvider): ModulePlacement {
  if (!ONE_THREAD_PER_DEVICE.has(moduleEp)) return 'own-worker';
  return moduleEp === baseEp ? 'engine-thread' : 'device-worker';
}
