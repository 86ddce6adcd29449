// Runs test files of undici's own repository twice: once with undici's own Agent as the global
// dispatcher (the baseline) and once with node-hyper's HyperDispatcher installed as the global
// dispatcher, then lists every test that passes on the Agent but fails on HyperDispatcher.
//
// undici's source is not part of this package: pass a checkout of the undici repository at (or
// near) the version installed in node_modules. The runner copies it into a scratch directory
// outside this repository, installs there only the npm packages the chosen test files need
// (at the versions undici's package.json names), and runs each file with `node --test`, as
// undici's `borp` scripts do, one file at a time with a timeout per file.
//
// Usage:
//   npm run test:undici-suite -- <undici-src> [options]      (or UNDICI_SRC=<undici-src>)
// Options:
//   --lib installed|source   library code under test: the undici installed in node_modules
//                            (default: the version node-hyper is tested with) or the checkout's own
//   --files a,b,...          test files (paths relative to the checkout's test/ folder) instead of the
//                            default selection; a trailing `/` takes every .js file of that folder
//   --modes agent,hyper      which runs to do (default both)
//   --file-timeout <s>       wall-clock limit per test file and run (default 90)
//   --out <dir>              where results go (default build/undici-suite)
//   --results <file>         also write the summary markdown there (e.g. test/undici-suite/RESULTS.md)
//   --scratch <dir>          scratch directory (default $UNDICI_SUITE_DIR or <tmp>/node-hyper-undici-suite)
//   --rereport               only rewrite the reports from <out>/results.json of an earlier run
//   --hyper <file>           node-hyper CommonJS entry to test (default this repo's dist/cjs/index.js), e.g.
//                            a candidate build; NODE_HYPER_BINARY selects the addon as usual
//   --hyper-options <json>   options for the HyperDispatchers (e.g. '{"connections":1000000}')
//   --no-substitute          leave a plain `new Agent()` that a test installs with setGlobalDispatcher()
//                            in place (by default the HyperDispatcher run substitutes a HyperDispatcher)
//
// Only loopback traffic: undici's tests start their own servers on localhost. Tests that need
// the internet (none in the default selection) fail on both runs and so are not differences.
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const here = path.join(root, 'scripts', 'undici-suite')

// The test files, relative to undici's test/ folder, that reach the global dispatcher: undici's
// fetch (and Node's global fetch), EventSource, and the request/stream/pipeline API called
// without a `dispatcher` option. See test/undici-suite/RESULTS.md for how they were chosen.
const DEFAULT_FILES = [
  'fetch/',
  'eventsource/',
  'node-fetch/',
  // The files below were found by running every top-level test file and test/node-test/ and
  // test/interceptors/ on the baseline with the dispatch counter (see RESULTS.md): these send
  // requests through the global dispatcher; the others use their own Client/Pool/Agent, a
  // MockAgent or a ProxyAgent.
  'interceptors/decompress.js',
  'client-node-max-header-size.js',
  'examples.js',
  'inflight-and-close.js',
  'issue-2065.js',
  'issue-2078.js',
  'issue-2590.js',
  'issue-3410.js',
  'parser-issues.js',
  'redirect-stream.js',
  'request-crlf.js',
  'request-signal.js',
  'request.js',
  'tls-cert-leak.js',
  'node-test/agent.js',
  'node-test/debug.js',
  'node-test/global-dispatcher-version.js',
  'node-test/large-body.js',
  // Also run, to show the counter: they install a MockAgent or their own dispatcher.
  'issue-1757.js',
]


// npm packages the default selection needs (names of undici's devDependencies).
const NEEDED_DEPS = [
  '@matteo.collina/tspl', '@metcoder95/https-pem', '@sinonjs/fake-timers', '@fastify/busboy',
  'abort-controller', 'proxy', 'node-forge', 'ws', 'dns-packet', 'esbuild',
]

function parseArgs (argv) {
  const o = { src: process.env.UNDICI_SRC ?? null, lib: 'installed', files: null, modes: ['agent', 'hyper'], fileTimeout: 90, substitute: true, out: path.join(root, 'build', 'undici-suite'), results: null, scratch: process.env.UNDICI_SUITE_DIR ?? path.join(os.tmpdir(), 'node-hyper-undici-suite') }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--lib') o.lib = next()
    else if (a === '--files') o.files = next().split(',').filter(Boolean)
    else if (a === '--modes') o.modes = next().split(',').filter(Boolean)
    else if (a === '--file-timeout') o.fileTimeout = Number(next())
    else if (a === '--out') o.out = path.resolve(next())
    else if (a === '--results') o.results = path.resolve(next())
    else if (a === '--scratch') o.scratch = path.resolve(next())
    else if (a === '--no-substitute') o.substitute = false
    else if (a === '--rereport') o.rereport = true
    else if (a === '--hyper') o.hyper = path.resolve(next())
    else if (a === '--hyper-options') o.hyperOptions = JSON.stringify(JSON.parse(next()))
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else o.src = a
  }
  o.hyper ??= path.join(root, 'dist', 'cjs', 'index.js')
  if (o.rereport) return o
  if (!o.src) throw new Error('pass the path of an undici source checkout (argument or UNDICI_SRC)')
  o.src = path.resolve(o.src)
  if (o.lib !== 'installed' && o.lib !== 'source') throw new Error('--lib is installed or source')
  if (!(o.fileTimeout > 0)) throw new Error('--file-timeout must be a positive number of seconds')
  for (const m of o.modes) if (m !== 'agent' && m !== 'hyper') throw new Error(`unknown mode ${m}`)
  if (o.scratch === root || o.scratch.startsWith(root + path.sep)) throw new Error('the scratch directory must be outside this repository')
  return o
}

function readJson (file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

/** Copies the checkout into <scratch>/undici, with the library code under test, and installs the test dependencies. */
function prepare (o) {
  const srcPkg = readJson(path.join(o.src, 'package.json'))
  if (srcPkg.name !== 'undici') throw new Error(`${o.src} is not an undici checkout`)
  const installed = readJson(path.join(root, 'node_modules', 'undici', 'package.json'))
  const dir = path.join(o.scratch, 'undici')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(o.scratch, { recursive: true })
  const skipTop = new Set(['node_modules', '.git', 'benchmarks', 'coverage'])
  fs.cpSync(o.src, dir, {
    recursive: true,
    filter: (p) => {
      const rel = path.relative(o.src, p)
      if (skipTop.has(rel.split(path.sep)[0])) return false
      return !rel.startsWith(path.join('test', 'web-platform-tests'))
    },
  })
  let libVersion = srcPkg.version
  if (o.lib === 'installed') {
    const from = path.join(root, 'node_modules', 'undici')
    for (const name of ['index.js', 'index-fetch.js', 'lib', 'types']) {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true })
      fs.cpSync(path.join(from, name), path.join(dir, name), { recursive: true })
    }
    libVersion = installed.version
  }

  // The test dependencies go to <scratch>/node_modules (found from <scratch>/undici/test/...),
  // with their own package.json, so that undici's full devDependencies are not installed.
  const deps = {}
  for (const name of NEEDED_DEPS) {
    const spec = srcPkg.devDependencies?.[name]
    if (spec) deps[name] = spec
  }
  const want = JSON.stringify({ private: true, dependencies: deps }, null, 2)
  const pkgFile = path.join(o.scratch, 'package.json')
  const stamp = path.join(o.scratch, 'node_modules', '.undici-suite-deps.json')
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== want) {
    fs.writeFileSync(pkgFile, want)
    console.log(`installing test dependencies into ${o.scratch}: ${Object.keys(deps).join(', ')}`)
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock'], { cwd: o.scratch, stdio: 'inherit' })
    fs.writeFileSync(stamp, want)
  }
  // undici's `generate-pem` script: the certificates of @metcoder95/https-pem.
  execFileSync(process.execPath, ['-e', "require('@metcoder95/https-pem/install')"], { cwd: dir, stdio: 'inherit' })
  // undici's `build:node` script: the esbuild bundle undici-fetch.js (test/fetch/bundle.js and others).
  const esbuild = path.join(o.scratch, 'node_modules', '.bin', 'esbuild')
  execFileSync(esbuild, ['index-fetch.js', '--bundle', '--platform=node', '--outfile=undici-fetch.js', '--define:esbuildDetection=1', '--keep-names', '--log-level=warning'], { cwd: dir, stdio: 'inherit' })
  if (fs.existsSync(path.join(dir, 'scripts', 'strip-comments.js'))) {
    execFileSync(process.execPath, ['scripts/strip-comments.js'], { cwd: dir, stdio: 'inherit' })
  }
  return { dir, testsVersion: srcPkg.version, libVersion, installedVersion: installed.version }
}

function selectFiles (dir, wanted) {
  const testDir = path.join(dir, 'test')
  const out = []
  for (const w of wanted) {
    if (w.endsWith('/')) {
      const sub = path.join(testDir, w)
      for (const f of fs.readdirSync(sub).sort()) {
        if (f.endsWith('.js') && fs.statSync(path.join(sub, f)).isFile()) out.push(w + f)
      }
    } else {
      if (!fs.existsSync(path.join(testDir, w))) throw new Error(`no test file test/${w} in the checkout`)
      out.push(w)
    }
  }
  return [...new Set(out)]
}

/** The `node --test` process running now (its process group is killed if this runner is stopped). */
let current = null
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (current) try { process.kill(-current.pid, 'SIGKILL') } catch {}
    process.exit(130)
  })
}

/** Runs one test file under `node --test`; resolves with its per-test records. */
function runFile (o, ctx, mode, file) {
  const outDir = path.join(o.out, mode)
  const base = file.replace(/[/\\]/g, '__')
  const jsonl = path.join(outDir, base + '.jsonl')
  const log = path.join(outDir, base + '.log')
  const counts = path.join(outDir, 'counts', base)
  fs.rmSync(counts, { recursive: true, force: true })
  fs.mkdirSync(counts, { recursive: true })
  fs.rmSync(jsonl, { force: true })
  // undici runs test/fetch, test/eventsource and the top-level files with --expose-gc.
  const args = ['--expose-gc', '--test', '--test-concurrency=1', `--test-timeout=${Math.max(5, o.fileTimeout - 5) * 1000}`,
    `--test-reporter=${path.join(here, 'reporter.mjs')}`, `--test-reporter-destination=${jsonl}`,
    '--test-reporter=spec', `--test-reporter-destination=${log}`,
    path.join('test', file)]
  const env = {
    ...process.env,
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require=${path.join(here, 'preload.cjs')}`].filter(Boolean).join(' '),
    UNDICI_SUITE_MODE: mode,
    UNDICI_SUITE_UNDICI: path.join(ctx.dir, 'index.js'),
    UNDICI_SUITE_HYPER: o.hyper,
    UNDICI_SUITE_COUNTS: counts,
    UNDICI_SUITE_SUBSTITUTE: o.substitute ? '1' : '0',
    UNDICI_SUITE_HYPER_OPTIONS: o.hyperOptions ?? '',
  }
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ctx.dir, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    current = child
    let stderr = ''
    child.stderr.on('data', (d) => { if (stderr.length < 20000) stderr += d })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
    }, o.fileTimeout * 1000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      // Children of the test process that outlived it (servers a test spawned).
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
      const records = fs.existsSync(jsonl) ? fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []
      let dispatches = 0
      let sets = 0
      let substituted = 0
      for (const f of fs.readdirSync(counts)) {
        try {
          const c = readJson(path.join(counts, f))
          dispatches += c.dispatches
          sets += c.sets
          substituted += c.substituted
        } catch {}
      }
      if (stderr) fs.appendFileSync(log, '\n--- stderr ---\n' + stderr)
      resolve({ file, mode, code, signal, timedOut, timeout: o.fileTimeout, seconds: (Date.now() - started) / 1000, tests: nameTests(records), dispatches, sets, substituted })
    })
  })
}

/**
 * node:test reports a test after its subtests, each with its nesting level: rebuild the full
 * name ("parent > child") of every test. Leaf tests and tests without subtests are kept; a
 * parent whose only failure is a failing subtest is not counted twice.
 */
function nameTests (records) {
  const pending = [] // pending[n]: records at nesting n waiting for their parent
  for (const r of records) {
    r.children = pending[r.nesting + 1] ?? []
    pending[r.nesting + 1] = []
    ;(pending[r.nesting] ??= []).push(r)
  }
  const out = []
  const seen = new Map()
  const walk = (r, prefix) => {
    const name = prefix ? `${prefix} > ${r.name}` : r.name
    if (r.children.length === 0 || !r.ok) {
      // A parent that failed only because of its subtests is represented by them.
      const onlySubtests = r.children.length > 0 && r.error?.failureType === 'subtestsFailed'
      if (!onlySubtests) {
        const n = (seen.get(name) ?? 0) + 1
        seen.set(name, n)
        out.push({ name: n > 1 ? `${name} #${n}` : name, ok: r.ok, skip: r.skip || r.todo, error: r.error })
      }
    }
    for (const c of r.children) walk(c, name)
  }
  for (const r of pending[0] ?? []) walk(r, '')
  return out
}

// A test's outcome: pass, FAIL, skip, or missing (not reported: the file was killed or
// crashed before it ran).
function status (t) {
  if (!t) return 'missing'
  if (t.skip) return 'skip'
  return t.ok ? 'pass' : 'FAIL'
}

function errorText (e) {
  if (!e) return ''
  let s = `${e.name ?? 'Error'}${e.code ? ` [${e.code}]` : ''}: ${e.message}`
  if (e.failureType && e.failureType !== 'testCodeFailure') s = `(${e.failureType}) ${s}`
  if (e.cause) s += ` — cause: ${e.cause.name ?? 'Error'}${e.cause.code ? ` [${e.cause.code}]` : ''}: ${e.cause.message}`
  return s.replace(/\s+/g, ' ').trim()
}

function md (s) {
  return String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

const FILE_ROW = '(the file itself: ends on its own, within the time limit)'

/** Per-test rows of one file: its tests plus one row for the file's own exit. */
function fileTests (run, absFile) {
  if (!run) return null
  // node:test reports a failing file (timeout, uncaught error after the tests) as a test named
  // after the file: that is what the exit row says.
  // That row fails when the file had to be stopped (node:test's timeout or ours) or failed
  // outside its tests; an exit code 1 from failing tests is already in their rows.
  const tests = run.tests.filter((t) => t.name !== absFile)
  const fileTest = run.tests.find((t) => t.name === absFile && !t.ok)
  const exitOk = !run.timedOut && !fileTest && (run.code === 0 || tests.some((t) => !t.ok))
  let error = null
  if (!exitOk) {
    error = { name: 'Error', message: run.timedOut ? `killed after the ${run.timeout}s file timeout` : `exit ${run.code ?? run.signal}${fileTest?.error ? `: ${fileTest.error.message}` : ''}` }
  }
  tests.push({ name: FILE_ROW, ok: exitOk, skip: false, error })
  return tests
}

function report (o, ctx, files, results) {
  const byFile = new Map()
  for (const r of results) {
    if (!byFile.has(r.file)) byFile.set(r.file, {})
    byFile.get(r.file)[r.mode] = r
  }
  const rows = [] // per-test rows
  const diffs = []
  const zero = () => ({ pass: 0, fail: 0, skip: 0, missing: 0 })
  const totals = { agent: zero(), hyper: zero() }
  const fileRows = []
  for (const file of files) {
    const runs = byFile.get(file) ?? {}
    const abs = path.join(ctx.dir, 'test', file)
    const tests = { agent: fileTests(runs.agent, abs), hyper: fileTests(runs.hyper, abs) }
    const names = []
    for (const m of o.modes) for (const t of tests[m] ?? []) if (!names.includes(t.name)) names.push(t.name)
    const ft = { agent: zero(), hyper: zero() }
    for (const name of names) {
      const a = tests.agent?.find((t) => t.name === name)
      const h = tests.hyper?.find((t) => t.name === name)
      const st = { agent: status(a), hyper: status(h) }
      for (const m of o.modes) {
        const k = { pass: 'pass', skip: 'skip', FAIL: 'fail', missing: 'missing' }[st[m]]
        if (name !== FILE_ROW) {
          ft[m][k]++
          totals[m][k]++
        }
      }
      rows.push({ file, name, agent: tests.agent ? st.agent : '-', hyper: tests.hyper ? st.hyper : '-' })
      if (tests.agent && tests.hyper && st.agent === 'pass' && st.hyper !== 'pass' && st.hyper !== 'skip') {
        diffs.push({ file, name, hyper: st.hyper, error: errorText(h?.error) || 'not reported: the file was killed (timeout) or exited before this test ran' })
      }
    }
    fileRows.push({ file, ft, agent: runs.agent, hyper: runs.hyper })
  }

  const lines = []
  lines.push('# undici\'s test suite with HyperDispatcher as the global dispatcher', '')
  lines.push(`Generated by \`npm run test:undici-suite\` (scripts/undici-suite.mjs). Tests: undici checkout at version ${ctx.testsVersion}; ` +
    `library code: undici ${ctx.libVersion} (${o.lib === 'installed' ? 'the copy installed in node_modules' : 'the checkout\'s own lib/'}); Node ${process.version}; ` +
    `file timeout ${ctx.fileTimeout}s; ${ctx.substitute ? 'plain Agents installed by tests replaced by HyperDispatcher' : 'Agents installed by tests left in place'}` +
    `${ctx.candidate ? `; node-hyper from ${ctx.candidate}` : ''}${ctx.hyperOptions ? `; new HyperDispatcher(${ctx.hyperOptions})` : ''}.`, '')
  const sum = (m) => `${totals[m].pass} passed, ${totals[m].fail} failed, ${totals[m].skip} skipped, ${totals[m].missing} not reported`
  const exits = (m) => fileRows.filter((r) => r[m] && (r[m].code !== 0 || r[m].timedOut)).length
  lines.push(`- test files: ${files.length}`)
  if (o.modes.includes('agent')) lines.push(`- undici Agent (baseline): ${sum('agent')}; files with a non-zero exit or stopped: ${exits('agent')}`)
  if (o.modes.includes('hyper')) lines.push(`- HyperDispatcher: ${sum('hyper')}; files with a non-zero exit or stopped: ${exits('hyper')}`)
  lines.push(`- pass on Agent, not on HyperDispatcher: ${diffs.length} (file exit rows included)`, '')
  lines.push('## Pass on Agent, fail on HyperDispatcher', '')
  if (diffs.length === 0) lines.push('None.')
  else {
    lines.push('| file | test | HyperDispatcher | failure |', '| --- | --- | --- | --- |')
    for (const d of diffs) lines.push(`| ${d.file} | ${md(d.name)} | ${d.hyper} | ${md(d.error.slice(0, 400))} |`)
  }
  lines.push('', '## Per file', '')
  lines.push('"p/f/s/m": passed, failed, skipped, not reported. "disp.": requests that went through the dispatcher under test as the global dispatcher ' +
    '(undici\'s Agent, or HyperDispatcher; 0: the file does not exercise it; a killed file reports none). "set (subst.)": calls of setGlobalDispatcher() ' +
    'by the tests, and how many plain Agents among them were replaced by a HyperDispatcher. "exit": exit code, or TIMEOUT, and wall time.', '')
  lines.push('| file | Agent p/f/s/m | disp. | exit | HyperDispatcher p/f/s/m | disp. | set (subst.) | exit |')
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- |')
  const note = (r) => `${r.timedOut ? 'TIMEOUT' : (r.code ?? r.signal)} ${r.seconds.toFixed(1)}s`
  for (const r of fileRows) {
    const cell = (m) => {
      if (!r[m]) return m === 'hyper' ? '- | - | - | -' : '- | - | -'
      const c = r.ft[m]
      return `${c.pass}/${c.fail}/${c.skip}/${c.missing} | ${r[m].dispatches} | ${m === 'hyper' ? `${r[m].sets} (${r[m].substituted}) | ` : ''}${note(r[m])}`
    }
    lines.push(`| ${r.file} | ${cell('agent')} | ${cell('hyper')} |`)
  }
  const summary = lines.join('\n') + '\n'

  const table = ['| file | test | Agent | HyperDispatcher |', '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.file} | ${md(r.name)} | ${r.agent} | ${r.hyper} |`)].join('\n') + '\n'
  fs.writeFileSync(path.join(o.out, 'summary.md'), summary)
  fs.writeFileSync(path.join(o.out, 'tests.md'), table)
  fs.writeFileSync(path.join(o.out, 'results.json'), JSON.stringify({ ctx, files, results, diffs }, null, 1))
  if (o.results) {
    fs.mkdirSync(path.dirname(o.results), { recursive: true })
    fs.writeFileSync(o.results, summary)
  }
  return { summary, diffs, totals }
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  if (!fs.existsSync(o.hyper)) throw new Error(`${o.hyper} is missing: run \`npm run build:ts\` first`)
  if (o.rereport) {
    // Only rewrite the reports from the results.json of an earlier run.
    const { ctx, files, results } = readJson(path.join(o.out, 'results.json'))
    const modes = new Set(results.map((r) => r.mode))
    o.modes = o.modes.filter((m) => modes.has(m))
    console.log(report(o, ctx, files, results).summary)
    return
  }
  const defaultHyper = o.hyper === path.join(root, 'dist', 'cjs', 'index.js') && !process.env.NODE_HYPER_BINARY
  const ctx = { ...prepare(o), fileTimeout: o.fileTimeout, substitute: o.substitute, hyperOptions: o.hyperOptions ?? null, candidate: defaultHyper ? null : `${o.hyper}${process.env.NODE_HYPER_BINARY ? ` with addon ${process.env.NODE_HYPER_BINARY}` : ''}` }
  console.log(`undici tests ${ctx.testsVersion} from ${o.src}; library ${ctx.libVersion}; scratch ${ctx.dir}`)
  const files = selectFiles(ctx.dir, o.files ?? DEFAULT_FILES)
  fs.rmSync(o.out, { recursive: true, force: true })
  for (const m of o.modes) fs.mkdirSync(path.join(o.out, m), { recursive: true })
  const results = []
  for (const file of files) {
    const line = [file.padEnd(48)]
    for (const mode of o.modes) {
      const r = await runFile(o, ctx, mode, file)
      results.push(r)
      const pass = r.tests.filter((t) => t.ok && !t.skip).length
      const fail = r.tests.filter((t) => !t.ok && !t.skip).length
      line.push(`${mode} ${pass}✓ ${fail}✗ ${r.dispatches}d ${r.timedOut ? 'TIMEOUT' : r.seconds.toFixed(1) + 's'}`)
    }
    console.log(line.join('  '))
  }
  const { summary, diffs, totals } = report(o, ctx, files, results)
  console.log('\n' + summary)
  console.log(`per-test table: ${path.relative(root, path.join(o.out, 'tests.md'))}`)
  for (const m of o.modes) console.log(`${m}: ${totals[m].pass} passed, ${totals[m].fail} failed, ${totals[m].skip} skipped, ${totals[m].missing} not reported`)
  // Exit status: differences are the result of this run, not an error of the runner.
  process.exitCode = 0
  if (process.env.UNDICI_SUITE_STRICT && diffs.length > 0) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
