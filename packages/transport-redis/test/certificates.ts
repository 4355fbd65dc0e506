/**
 * Test helper: a throwaway PKI made with `openssl` in a fresh temporary folder — a CA, a server
 * certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) and a client certificate signed by
 * it, and an unrelated second CA with a client certificate of its own. EC P-256 keys, valid for
 * 2 days, returned as PEM text; the folder is removed before this resolves. `openssl` must be on
 * PATH (Debian: `apt-get install -y openssl`); when it is not, this rejects with a message saying
 * so. Never skipped.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A certificate and its private key, PEM. */
export interface KeyPair {
  readonly cert: string
  readonly key: string
}

export interface TestCertificates {
  /** The CA (PEM) that signed {@link server} and {@link client}. */
  readonly ca: string
  /** For 127.0.0.1 (IP SAN), extendedKeyUsage serverAuth. */
  readonly server: KeyPair
  /** CN `concord-client`, extendedKeyUsage clientAuth. */
  readonly client: KeyPair
  /** A self-signed CA that signed nothing here: trusting only it, the server is not trusted. */
  readonly otherCa: string
  /** A client certificate signed by {@link otherCa}: the server does not accept it. */
  readonly otherClient: KeyPair
}

class MissingOpensslError extends Error {
  constructor() {
    super(
      'openssl is not on PATH. The TLS tests make their certificates with it: install it ' +
        '(Debian/Ubuntu: `apt-get install -y openssl`) and run them again.',
    )
    this.name = 'MissingOpensslError'
  }
}

function openssl(dir: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd: dir }, (error, _stdout, stderr) => {
      if (error === null) return resolve()
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return reject(new MissingOpensslError())
      reject(new Error(`openssl ${args.join(' ')} failed: ${error.message}\n${stderr}`))
    })
  })
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A self-signed CA `<name>.crt` / `<name>.key` in `dir`. */
async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
}

/** `<name>.crt` / `<name>.key` in `dir`, signed by the CA `<ca>.crt`, with `extensions`. */
async function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  cn: string,
  extensions: string[],
): Promise<void> {
  await openssl(dir, [
    'req',
    '-new',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ])
  await writeFile(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`)
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ])
}

/** Makes the certificates (see {@link TestCertificates}); about 100 ms. */
export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'concord-tls-'))
  try {
    await makeCa(dir, 'ca', 'Concord test CA')
    await makeCa(dir, 'other-ca', 'Concord other test CA')
    const leaf = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature']
    await makeLeaf(dir, 'server', 'ca', '127.0.0.1', [
      ...leaf,
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1',
    ])
    await makeLeaf(dir, 'client', 'ca', 'concord-client', [...leaf, 'extendedKeyUsage=clientAuth'])
    await makeLeaf(dir, 'other-client', 'other-ca', 'concord-client', [
      ...leaf,
      'extendedKeyUsage=clientAuth',
    ])
    const read = (file: string) => readFile(join(dir, file), 'utf8')
    const pair = async (name: string): Promise<KeyPair> => ({
      cert: await read(`${name}.crt`),
      key: await read(`${name}.key`),
    })
    return {
      ca: await read('ca.crt'),
      server: await pair('server'),
      client: await pair('client'),
      otherCa: await read('other-ca.crt'),
      otherClient: await pair('other-client'),
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
