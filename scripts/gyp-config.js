#!/usr/bin/env node
'use strict'
// Prints what binding.gyp declares, for CMakeLists.txt: `sources` (one per line) or `defines`
// (except NAPI_VERSION, which cmake-js sets from package.json like node-gyp does). binding.gyp
// stays the one place that lists the addon's sources and compile definitions.
const fs = require('node:fs')
const path = require('node:path')

const text = fs.readFileSync(path.join(__dirname, '..', 'binding.gyp'), 'utf8')
// gyp files are Python literals: drop comments and trailing commas, then read them as JSON.
const json = text.replace(/^\s*#.*$/gm, '').replace(/,(\s*[\]}])/g, '$1')
const target = JSON.parse(json).targets[0]
const what = process.argv[2]
if (what === 'sources') {
  process.stdout.write(target.sources.join('\n') + '\n')
} else if (what === 'defines') {
  process.stdout.write(target.defines.filter((d) => !d.startsWith('NAPI_VERSION=')).join(';') + '\n')
} else {
  process.stderr.write('usage: gyp-config.js sources|defines\n')
  process.exit(2)
}
