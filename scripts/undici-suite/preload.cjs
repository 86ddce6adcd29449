'use strict'
// Preloaded (NODE_OPTIONS=--require) into every process of an undici test-suite run, by
// scripts/undici-suite.mjs. It makes undici's tests use HyperDispatcher as the global dispatcher
// (mode "hyper"), or leaves undici's own Agent in place (mode "agent"), and in both modes counts
// the dispatches that went through a global dispatcher, so the report can tell which test files
// actually exercised it.
//
// Tests that install their own plain `new Agent(options)` with setGlobalDispatcher() (to shorten
// keep-alive timeouts, mostly) get a HyperDispatcher instead in mode "hyper" when
// UNDICI_SUITE_SUBSTITUTE=1: that is the drop-in replacement a user would make. Subclasses of
// Agent, MockAgent, ProxyAgent and other dispatchers are left alone.
//
// Environment (set by the runner):
//   UNDICI_SUITE_MODE        "agent" | "hyper"
//   UNDICI_SUITE_UNDICI      the undici entry (index.js) the tests load (`require('../..')`)
//   UNDICI_SUITE_HYPER       node-hyper's CommonJS entry (dist/cjs/index.js)
//   UNDICI_SUITE_SUBSTITUTE  "1": substitute plain Agents installed by the tests (mode "hyper")
//   UNDICI_SUITE_HYPER_OPTIONS  JSON options for new HyperDispatcher() (default none)
//   UNDICI_SUITE_COUNTS      directory for one small JSON file of counts per process
const fs = require('node:fs')
const path = require('node:path')
const Module = require('node:module')
const dns = require('node:dns')
const net = require('node:net')

// Loopback only: a name lookup other than localhost fails at once with ENOTFOUND, without asking
// a resolver (some of undici's tests pass made-up host names and expect a validation error
// first; a dispatcher that validates later would otherwise send a DNS query off the machine).
if (process.env.UNDICI_SUITE_MODE) {
  const local = (host) => {
    const h = String(host).replace(/^\[|\]$/g, '').toLowerCase()
    return h === 'localhost' || h.endsWith('.localhost') || net.isIP(h) !== 0
  }
  const notFound = (host) => Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: host })
  const lookup = dns.lookup
  dns.lookup = function (host, options, callback) {
    if (typeof options === 'function') callback = options
    if (!local(host)) {
      process.nextTick(callback, notFound(host))
      return {}
    }
    return lookup.apply(this, arguments)
  }
  const lookupAsync = dns.promises.lookup
  dns.promises.lookup = function (host) {
    if (!local(host)) return Promise.reject(notFound(host))
    return lookupAsync.apply(this, arguments)
  }
}

const mode = process.env.UNDICI_SUITE_MODE
const undiciEntry = process.env.UNDICI_SUITE_UNDICI
const countsDir = process.env.UNDICI_SUITE_COUNTS

if ((mode === 'agent' || mode === 'hyper') && undiciEntry) {
  const undici = require(undiciEntry)
  const stats = { dispatches: 0, sets: 0, substituted: 0 }
  const counted = new WeakSet()

  // Count dispatches through `d` (an own property shadows the class method; compose() and
  // request() on it still reach it through `this.dispatch`).
  const count = (d) => {
    if (!d || typeof d.dispatch !== 'function' || counted.has(d)) return d
    counted.add(d)
    const orig = d.dispatch
    d.dispatch = function dispatch (opts, handler) {
      stats.dispatches++
      return orig.call(this, opts, handler)
    }
    return d
  }

  let makeHyper = null
  if (mode === 'hyper') {
    const hyperEntry = process.env.UNDICI_SUITE_HYPER
    // node-hyper loads `undici` lazily (error classes, request/stream/pipeline). Make that
    // resolve to the very module instance the tests use, so errors, Dispatcher.prototype
    // methods and FormData are those of the copy under test, not of a second copy.
    const hyperUndici = Module.createRequire(hyperEntry).resolve('undici')
    const testedUndici = require.resolve(undiciEntry)
    if (hyperUndici !== testedUndici) require.cache[hyperUndici] = require.cache[testedUndici]
    const { HyperDispatcher } = require(hyperEntry)
    const options = process.env.UNDICI_SUITE_HYPER_OPTIONS ? JSON.parse(process.env.UNDICI_SUITE_HYPER_OPTIONS) : undefined
    makeHyper = () => new HyperDispatcher(options)
    undici.setGlobalDispatcher(count(makeHyper()))
  } else {
    count(undici.getGlobalDispatcher())
  }

  // Only the dispatcher under test is counted: undici's default Agent and the plain Agents the
  // tests install (mode "agent"), the HyperDispatchers (mode "hyper"); not MockAgent & co.
  const substitute = process.env.UNDICI_SUITE_SUBSTITUTE === '1'
  const setGlobalDispatcher = undici.setGlobalDispatcher
  undici.setGlobalDispatcher = function (agent) {
    stats.sets++
    if (substitute && agent && agent.constructor === undici.Agent) {
      if (mode === 'hyper') {
        stats.substituted++
        agent = makeHyper()
      }
      count(agent)
    }
    return setGlobalDispatcher.call(this, agent)
  }

  if (countsDir) {
    process.on('exit', () => {
      const record = { pid: process.pid, argv: process.argv.slice(1), ...stats }
      try {
        fs.writeFileSync(path.join(countsDir, `${process.pid}.json`), JSON.stringify(record))
      } catch {}
    })
  }
}
