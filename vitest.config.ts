// Test runner configuration: unit tests sit beside the code (*.test.ts),
// cross-folder tests live in tests/. Integration tests start real processes,
// hence the generous timeouts (the machines are shared and noisy).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{shared,core,cli,relay,tests}/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
