import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Fixtures are built with qemu-img on a 2-core machine; two files at a time is the sweet spot.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default'],
  },
});
