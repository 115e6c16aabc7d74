import { describe, expect, it } from 'vitest';
import { parseServerOptions, unknownEnvironment } from '../../../server/options.js';

describe('UNIR_ environment variables', () => {
  it('names those that are no option (a typo, an option this version lacks, a Kubernetes service link); options pass', () => {
    const env = {
      UNIR_PORT: '9000',
      UNIR_WATCH_POLL: '2',
      UNIR_REASONERS_DIR: '/modules',
      UNIR_ADMIN_TOKEN: 't',
      UNIR_WATCH_POL: '2', // a typo
      UNIR_API_KEY: 'k', // --api-key
      UNIR_API_KYE: 'k', // a typo: the API would be open while the operator thinks it is not
      UNIR_SERVE_PORT: 'tcp://10.0.0.1:80', // what Kubernetes injects for a Service named unir-serve
      PATH: '/usr/bin',
      unir_port: 'lower case is not ours',
    };
    expect(unknownEnvironment(env)).toEqual(['UNIR_API_KYE', 'UNIR_SERVE_PORT', 'UNIR_WATCH_POL']);
    expect(parseServerOptions(['--model', 'm'], env).apiKey).toEqual(['k']);
    expect(parseServerOptions(['--model', 'm'], env).port).toBe(9000); // still ignored, not an error
    expect(unknownEnvironment({ UNIR_MODEL: 'm', UNIR_NO_UI: '1' })).toEqual([]);
  });

  it('--sampler-threads above 64 is refused at start (each is a worker of tens of MB), saying the bound', () => {
    expect(parseServerOptions(['--model', 'm', '--sampler-threads', '64'], {}).samplerThreads).toBe(64);
    expect(() => parseServerOptions(['--model', 'm'], { UNIR_SAMPLER_THREADS: '1000' })).toThrow(/--sampler-threads: at most 64, got 1000/);
  });

  it('list items are trimmed ("k1, k2" gives the key k2); an explicitly empty flag is refused, not read as "no keys"', () => {
    expect(parseServerOptions(['--model', 'm'], { UNIR_API_KEY: 'k1, k2 ,' }).apiKey).toEqual(['k1', 'k2']);
    expect(parseServerOptions(['--model', 'm'], { UNIR_ALLOWED_ORIGINS: 'https://a.example, https://b.example' }).allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(parseServerOptions(['--model', 'm', '--api-key', ' k3 '], {}).apiKey).toEqual(['k3']);
    // As the README writes it: --allowed-origins URL,...
    expect(parseServerOptions(['--model', 'm', '--allowed-origins', 'https://app.example,http://localhost:5173'], {}).allowedOrigins).toEqual(['https://app.example', 'http://localhost:5173']);
    expect(() => parseServerOptions(['--model', 'm', '--api-key', ''], {})).toThrow(/--api-key: expected a non-empty value/);
  });
});
