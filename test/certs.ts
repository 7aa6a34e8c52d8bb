import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generate } from 'selfsigned';

/**
 * Development and test certificates (never for production: docs/deploy.md says how to mount
 * real ones): a CA, a server certificate signed by it for `names` (DNS names and IPs, plus
 * localhost and 127.0.0.1), and a client certificate signed by it (mutual TLS). Generated with
 * `selfsigned` (X.509 needs more than node:crypto offers).
 *   npm run certs -- OUTDIR [name ...]   writes ca.pem, server.pem, server-key.pem, client.pem, client-key.pem
 */
export interface DevCerts {
  ca: string;
  caKey: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

const IP = /^(\d{1,3}\.){3}\d{1,3}$|:/;

export async function makeDevCerts(names: string[] = []): Promise<DevCerts> {
  const days = (n: number): Date => new Date(Date.now() + n * 86_400_000);
  const ca = await generate([{ name: 'commonName', value: 'RobustRec development CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: days(30),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const signed = async (cn: string, usage: { serverAuth?: boolean; clientAuth?: boolean }, sans: string[]) =>
    generate([{ name: 'commonName', value: cn }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notAfterDate: days(30),
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', ...usage },
        { name: 'subjectAltName', altNames: sans.map((s) => (IP.test(s) ? { type: 7 as const, ip: s } : { type: 2 as const, value: s })) },
      ],
    });
  const all = [...new Set(['localhost', '127.0.0.1', ...names])];
  // one certificate per process in a real deployment; here servers and clients share one
  const server = await signed('robustrec', { serverAuth: true, clientAuth: true }, all);
  const client = await signed('robustrec-client', { clientAuth: true }, ['robustrec-client']);
  return { ca: ca.cert, caKey: ca.private, cert: server.cert, key: server.private, clientCert: client.cert, clientKey: client.private };
}

/** Writes the certificates as PEM files into dir; returns their paths. */
export function writeDevCerts(dir: string, c: DevCerts): Record<'ca' | 'cert' | 'key' | 'clientCert' | 'clientKey', string> {
  mkdirSync(dir, { recursive: true });
  const files = { ca: 'ca.pem', cert: 'server.pem', key: 'server-key.pem', clientCert: 'client.pem', clientKey: 'client-key.pem' } as const;
  const out = {} as Record<keyof typeof files, string>;
  for (const [k, f] of Object.entries(files) as Array<[keyof typeof files, string]>) {
    writeFileSync(join(dir, f), c[k], { mode: k.endsWith('ey') ? 0o600 : 0o644 });
    out[k] = join(dir, f);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('test/certs.ts')) {
  const [dir, ...names] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: npm run certs -- OUTDIR [dns-name|ip ...]');
    process.exit(2);
  }
  const paths = writeDevCerts(dir, await makeDevCerts(names));
  console.log(Object.values(paths).join('\n'));
}
