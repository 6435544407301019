import { defineConfig } from 'vitest/config';

/** Unit tests of `functions/core` only: in-memory fakes, no local stack (no globalSetup). */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 10_000,
  },
});
