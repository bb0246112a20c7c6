import { defineConfig } from 'vitest/config';

// Integration tests drive the real kernel, dockerd and Python loaders; they are slow
// but never timed. Files run in separate forks so a crashing addon cannot take the suite.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 600_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
