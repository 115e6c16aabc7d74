import client from 'prom-client';

/** Prometheus metrics (GET /metrics). One registry per server, so tests can run several in one process. */
export class Metrics {
  readonly registry = new client.Registry();
  private readonly latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  readonly timeToFirstToken = this.histogram('unir_time_to_first_token_seconds', 'Time from request to the first token.');
  readonly interTokenLatency = this.histogram('unir_inter_token_latency_seconds', 'Time between consecutive tokens of a sequence.');
  readonly e2eLatency = this.histogram('unir_e2e_request_latency_seconds', 'Time from request to the last token.');
  readonly queueTime = this.histogram('unir_request_queue_time_seconds', 'Time a request waited before its prompt was processed (approximated by its first token minus prefill).');
  readonly promptTokens = new client.Counter({ name: 'unir_prompt_tokens_total', help: 'Prompt tokens processed.', registers: [this.registry] });
  readonly generationTokens = new client.Counter({ name: 'unir_generation_tokens_total', help: 'Tokens generated.', registers: [this.registry] });
  readonly requests = new client.Counter({ name: 'unir_requests_total', help: 'Generation requests by endpoint and finish reason.', labelNames: ['endpoint', 'finish_reason'], registers: [this.registry] });
  readonly running = new client.Gauge({ name: 'unir_num_requests_running', help: 'Sequences in the running batch (decoding or prefilling).', registers: [this.registry] });
  readonly waiting = new client.Gauge({ name: 'unir_num_requests_waiting', help: 'Sequences waiting for a batch slot.', registers: [this.registry] });
  readonly reasonerRequests = new client.Counter({ name: 'unir_reasoner_requests_total', help: 'Requests that used a reasoning module.', labelNames: ['reasoner'], registers: [this.registry] });
  readonly reasonerEvents = new client.Counter({ name: 'unir_reasoner_events_total', help: 'Module loads, failed loads and unloads.', labelNames: ['reasoner', 'event'], registers: [this.registry] });
  readonly gateModuleSteps = new client.Counter({ name: 'unir_reasoner_gate_module_steps_total', help: 'Module steps of entropy-gated sequences, by outcome: run (gate open) or skipped.', labelNames: ['outcome'], registers: [this.registry] });
  readonly modelLoadSeconds = new client.Gauge({ name: 'unir_model_load_seconds', help: 'Time to load the base model.', registers: [this.registry] });

  constructor() {
    // prom-client's names already start with process_ or nodejs_: unir_process_resident_memory_bytes, unir_nodejs_...
    client.collectDefaultMetrics({ register: this.registry, prefix: 'unir_' });
  }

  private histogram(name: string, help: string): client.Histogram {
    return new client.Histogram({ name, help, buckets: this.latencyBuckets, registers: [this.registry] });
  }
}
