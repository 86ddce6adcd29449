// Certificates generated for the test run with the openssl CLI: a CA, a good leaf for
// localhost/127.0.0.1, an expired leaf, a wrong-host leaf, a self-signed leaf, a leaf from a CA
// the client does not trust, and a client certificate (with an encrypted key) for mutual TLS.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

export interface Pair { cert: string, key: string }
export interface TestPki {
  dir: string
  ca: string
  good: Pair
  expired: Pair
  wrongHost: Pair
  selfSigned: Pair
  untrusted: Pair
  /** Client certificate signed by the CA; its key is encrypted with `clientPassphrase`. */
  client: Pair
  clientPassphrase: string
}

function run (dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
}

function stamp (d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
}

export function makePki (): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-pki-'))
  const caDir = (name: string): string => {
    const d = path.join(dir, name)
    fs.mkdirSync(path.join(d, 'newcerts'), { recursive: true })
    fs.writeFileSync(path.join(d, 'index.txt'), '')
    fs.writeFileSync(path.join(d, 'serial'), '1000\n')
    fs.writeFileSync(path.join(d, 'ca.cnf'), [
      '[ ca ]', 'default_ca = CA_default',
      '[ CA_default ]', `dir = ${d}`, 'database = $dir/index.txt', 'new_certs_dir = $dir/newcerts',
      'serial = $dir/serial', 'default_md = sha256', 'policy = policy_any', 'unique_subject = no',
      '[ policy_any ]', 'commonName = supplied', '',
    ].join('\n'))
    run(d, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
      '-subj', `/CN=node-hyper test ${name}`, '-days', '3', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    return d
  }
  const issue = (ca: string, name: string, san: string, from: Date, to: Date, usage = 'serverAuth', pass?: string): Pair => {
    const keyArgs = pass ? ['-passout', `pass:${pass}`] : ['-nodes']
    run(ca, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', ...keyArgs, '-keyout', `${name}.key`,
      '-out', `${name}.csr`, '-subj', `/CN=${name}`])
    fs.writeFileSync(path.join(ca, `${name}.ext`), `basicConstraints=CA:FALSE\nextendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`)
    run(ca, ['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${name}.csr`,
      '-out', `${name}.crt`, '-startdate', stamp(from), '-enddate', stamp(to), '-extfile', `${name}.ext`])
    return { cert: fs.readFileSync(path.join(ca, `${name}.crt`), 'latin1'), key: fs.readFileSync(path.join(ca, `${name}.key`), 'latin1') }
  }
  const day = 86_400_000
  const now = Date.now()
  const valid: [Date, Date] = [new Date(now - day), new Date(now + 2 * day)]
  const main = caDir('ca')
  const other = caDir('other-ca')
  const good = issue(main, 'localhost', 'DNS:localhost,IP:127.0.0.1', ...valid)
  const expired = issue(main, 'expired', 'DNS:localhost,IP:127.0.0.1', new Date(now - 30 * day), new Date(now - 2 * day))
  const wrongHost = issue(main, 'wrong-host', 'DNS:wrong.example', ...valid)
  const untrusted = issue(other, 'untrusted', 'DNS:localhost,IP:127.0.0.1', ...valid)
  const clientPassphrase = 'correct horse'
  const client = issue(main, 'client', '', ...valid, 'clientAuth', clientPassphrase)
  run(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'self.key', '-out', 'self.crt',
    '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
  const selfSigned = { cert: fs.readFileSync(path.join(dir, 'self.crt'), 'latin1'), key: fs.readFileSync(path.join(dir, 'self.key'), 'latin1') }
  return { dir, ca: fs.readFileSync(path.join(main, 'ca.crt'), 'latin1'), good, expired, wrongHost, selfSigned, untrusted, client, clientPassphrase }
}
