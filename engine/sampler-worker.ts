/** Worker entry of the sampler pool (engine/sampler-pool.ts): samples rows of a step from shared memory. */
import { parentPort } from 'node:worker_threads';
import { createLogprobScratch } from '../kernels/logprobs.js';
import { runSampleJob } from '../kernels/sample-job.js';
import { createSamplerScratch } from '../kernels/token-sampler.js';
import { rowViews, type FromSamplerWorker, type SampleRows, type ToSamplerWorker } from './sampler-pool.js';

const scratch = { sampler: createSamplerScratch(), logprobs: createLogprobScratch() };
let buffer: SharedArrayBuffer | null = null;
let capacity = 0;
let vocab = 0;

parentPort!.on('message', (msg: ToSamplerWorker) => {
  if (msg.type === 'buffer') {
    ({ buffer, capacity, vocab } = msg);
    return;
  }
  let reply: FromSamplerWorker;
  try {
    const views: SampleRows = rowViews(buffer!, capacity, vocab, Math.max(...msg.slots) + 1);
    const outcomes = msg.jobs.map((job, k) => {
      const slot = msg.slots[k];
      return runSampleJob(views.rows[slot], job.logprobs !== null ? views.raws[slot] : null, job, scratch);
    });
    reply = { runId: msg.runId, outcomes };
  } catch (err) {
    // The engine thread redoes these jobs itself.
    reply = { runId: msg.runId, outcomes: null, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
