// Issue #15, "Crash": faults that take the whole process down. Each runs in a child process,
// so an abort is observed as an exit status instead of killing the test runner.
import { describe, it, expect } from 'vitest'
import path from 'node:path'
import { ROOT, runNode } from './util'

const ENTRY = path.join(ROOT, 'dist', 'cjs', 'index.js')
const FIXTURES = path.join(__dirname, 'fixtures')

describe('crash', () => {
  // Item 1. The worker loops connect/request/destroy; terminate() lands at random points,
  // often inside ClientConn.connect() (the native Connection constructor). With a fixed seed
  // and 150 terminations, today's build aborts with "FATAL ERROR:
  // Error::ThrowAsJavaScriptException napi_throw" (SIGABRT) well before the end.
  it('item 1: worker.terminate() during connect/request/destroy never aborts the process (150 terminations)', async () => {
    const r = await runNode([path.join(FIXTURES, 'worker-terminate.mjs'), ENTRY, '150', '11'], {
      timeoutMs: 50_000,
      env: { MAX_DELAY: '3' },
    })
    expect(r.timedOut, 'the terminate loop must finish').toBe(false)
    expect(r.stderr).not.toMatch(/FATAL ERROR/)
    expect(r.signal).toBeNull()
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('done 150')
  }, 60_000)

  // Item 2. `host: 5` reaches the native request() as a header value, which throws
  // synchronously inside the pool's connect callback: an unhandled rejection (the process
  // dies), and with a handler installed the request never settles.
  for (const which of ['pool', 'agent'] as const) {
    it(`item 2: a ${which === 'pool' ? 'Pool' : 'Agent'} given a bad connect option (host: 5) throws InvalidArgumentError at construction`, async () => {
      const r = await runNode([path.join(FIXTURES, 'bad-connect-option.cjs'), ENTRY, which], { timeoutMs: 15_000 })
      expect(r.timedOut).toBe(false)
      expect(r.stderr).not.toMatch(/TypeError/)
      expect(r.code, `the process must survive (stderr: ${r.stderr.slice(0, 300)})`).toBe(0)
      const report = JSON.parse(r.stdout.trim().split('\n').pop()!)
      expect(report.unhandled).toEqual([])
      expect(report).toMatchObject({ construct: 'threw', name: 'InvalidArgumentError', code: 'ERR_INVALID_ARG_TYPE', field: 'host' })
    }, 20_000)
  }
})
