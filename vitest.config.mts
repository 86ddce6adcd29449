import { defineConfig, configDefaults } from 'vitest/config'

// test/undici-suite/pins.test.ts pins the differences undici's own test suite found (npm run
// test:undici-suite); they are fixed and run with everything else. `npm run test:undici-pins`
// runs only them.
const pins = process.env.UNDICI_SUITE_PINS === '1'

export default defineConfig({
  test: {
    include: pins ? ['test/undici-suite/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: configDefaults.exclude,
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
      enabled: !pins,
      include: ['test/**/*.test-d.ts'],
      tsconfig: './tsconfig.test.json',
    },
  },
})
