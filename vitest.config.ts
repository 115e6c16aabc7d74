import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Which providers start here (cpu, webgpu, cuda): the contract suites run on each (tests/helpers/providers.ts).
    globalSetup: ['tests/provider-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Model workers and servers use both cores already; files run one at a time.
    fileParallelism: false,
  },
});
