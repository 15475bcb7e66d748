/**
 * Throw-away TLS certificates for tests, made at test time with openssl (P-256 keys): a
 * self-signed one for localhost and 127.0.0.1, or a small test CA that issues certificates
 * for the names a test needs. Nothing is committed.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  fingerprint: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function loaded(certFile: string, keyFile: string): TestCertificate {
  const cert = readFileSync(certFile);
  return {
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile),
    fingerprint: new X509Certificate(cert).fingerprint256,
  };
}

export function makeCertificate(dir: string, name: string): TestCertificate {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=localhost/O=${name}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return loaded(certFile, keyFile);
}

export interface TestCertificateAuthority extends TestCertificate {
  /** A certificate for these DNS names (the first is the subject's CN), signed by this CA. */
  issue(name: string, dnsNames: readonly string[]): TestCertificate;
}

/** A CA certificate and key in `dir`, for tests that verify certificates against it. */
export function makeCertificateAuthority(dir: string, name: string): TestCertificateAuthority {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${name} test CA`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    { stdio: 'ignore' },
  );
  let serial = 0;
  return {
    ...loaded(certFile, keyFile),
    issue(leaf, dnsNames) {
      const base = join(dir, `${name}-${leaf}-${++serial}`);
      const extFile = `${base}.ext`;
      writeFileSync(
        extFile,
        [
          'basicConstraints=CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
          `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}`,
          '',
        ].join('\n'),
      );
      execFileSync(
        'openssl',
        [
          'req',
          '-new',
          ...EC_KEY,
          '-keyout',
          `${base}.key`,
          '-out',
          `${base}.csr`,
          '-subj',
          `/CN=${dnsNames[0] ?? leaf}`,
        ],
        { stdio: 'ignore' },
      );
      execFileSync(
        'openssl',
        [
          'x509',
          '-req',
          '-in',
          `${base}.csr`,
          '-CA',
          certFile,
          '-CAkey',
          keyFile,
          '-set_serial',
          String(Date.now() * 1000 + serial),
          '-days',
          '2',
          '-extfile',
          extFile,
          '-out',
          `${base}.crt`,
        ],
        { stdio: 'ignore' },
      );
      return loaded(`${base}.crt`, `${base}.key`);
    },
  };
}
