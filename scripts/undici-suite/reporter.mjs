// node:test reporter for scripts/undici-suite.mjs: one JSON line per finished test (pass, fail,
// skip, todo) with its nesting level, so the runner can rebuild each test's full name.
function describeError (err) {
  if (err == null) return null
  const e = err.failureType === 'testCodeFailure' && err.cause ? err.cause : err
  const out = {
    failureType: err.failureType ?? null,
    name: e?.name ?? null,
    code: e?.code ?? null,
    message: String(e?.message ?? e).slice(0, 2000),
  }
  const cause = e?.cause
  if (cause != null && cause !== e) {
    out.cause = { name: cause.name ?? null, code: cause.code ?? null, message: String(cause.message ?? cause).slice(0, 1000) }
  }
  return out
}

export default async function * reporter (source) {
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue
    const d = ev.data
    yield JSON.stringify({
      ok: ev.type === 'test:pass',
      name: d.name,
      nesting: d.nesting,
      file: d.file ?? null,
      skip: d.skip !== undefined && d.skip !== false,
      todo: d.todo !== undefined && d.todo !== false,
      duration: d.details?.duration_ms ?? null,
      error: ev.type === 'test:fail' ? describeError(d.details?.error) : null,
    }) + '\n'
  }
}
