// Test runner configuration: unit tests sit beside the code (*.test.ts),
// cross-folder tests live in tests/ (tests/e2e drives a real browser). Integration tests start real processes,
// hence the generous timeouts (the machines are shared and noisy).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The renderer's component tests are TSX (React's automatic runtime).
  esbuild: { jsx: 'automatic' },
  test: {
    include: ['{shared,core,cli,relay,tests}/**/*.test.ts', 'renderer/**/*.test.{ts,tsx}'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
