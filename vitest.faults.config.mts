// The fault-injection suite (test/faults): misbehaving loopback servers, worker termination,
// fd exhaustion, GOAWAY/RST on HTTP/2. Part of `npm test`; `npm run test:faults` runs just these.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    pool: 'forks',
    execArgv: ['--expose-gc'],
    // Every test sets its own, shorter bound; this is only the backstop.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
})
