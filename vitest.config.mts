import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Includes the fault-injection regressions (test/faults, issue #15); `npm run test:faults`
    // runs just those.
    include: ['test/**/*.test.ts'],
    // Each file in its own child process: native state, fds and RSS are measured per file,
    // and a crash in one file cannot take the others down.
    pool: 'forks',
    execArgv: ['--expose-gc'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The JSON report lets .ci/run print a plain 'N passed, N failed' summary line.
    reporters: ['default', ['json', { outputFile: 'build/test-report.json' }]],
    // Type tests (test/*.test-d.ts) run through tsc as part of the suite.
    typecheck: {
      enabled: true,
      include: ['test/**/*.test-d.ts'],
      tsconfig: './tsconfig.test.json',
    },
  },
})
