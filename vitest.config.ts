import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    // One GPU device per test file; lavapipe runs on the CPU, so parallel
    // files would fight over the two cores and slow every kernel down.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  },
});
