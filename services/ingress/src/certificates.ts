/**
 * The TLS certificate and key, read from files (in Kubernetes: a mounted TLS Secret) and
 * followed for changes, so a renewed certificate is used for new sessions without a
 * restart. The folders are watched (Secret volumes swap a symlink rather than rewrite the
 * files) and, as a fallback where watching is unreliable, the files are read again at an
 * interval. A pair that does not load — the key of the new certificate not written yet,
 * a truncated file — is not used: the previous pair stays until a good one appears.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { HikyakuError, type Logger } from '@hikyaku/core';

export interface CertificatePair {
  key: Buffer;
  cert: Buffer;
}

export class CertificateError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_TLS_CERTIFICATE', message, options);
    this.name = 'CertificateError';
  }
}

export interface CertificateWatcher {
  current(): CertificatePair;
  /** Called with each new pair that loaded. */
  onChange(listener: (pair: CertificatePair) => void): void;
  stop(): void;
}

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

/** Reads both files and checks that they form a usable pair. */
export async function loadCertificate(files: CertificateFiles): Promise<CertificatePair> {
  let pair: CertificatePair;
  try {
    pair = { cert: await readFile(files.certFile), key: await readFile(files.keyFile) };
  } catch (err) {
    throw new CertificateError(`cannot read ${files.certFile} or ${files.keyFile}`, {
      cause: err,
    });
  }
  try {
    const x509 = new X509Certificate(pair.cert);
    if (!x509.checkPrivateKey(createPrivateKey(pair.key))) {
      throw new Error('the key does not belong to the certificate');
    }
    createSecureContext(pair);
  } catch (err) {
    throw new CertificateError(
      `${files.certFile} and ${files.keyFile} are not a usable certificate and key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return pair;
}

function describe(pair: CertificatePair): Record<string, string> {
  const x509 = new X509Certificate(pair.cert);
  return { subject: x509.subject, validTo: x509.validTo, fingerprint: x509.fingerprint256 };
}

export async function watchCertificate(options: {
  files: CertificateFiles;
  intervalMs: number;
  log: Logger;
  onReload?: (result: 'success' | 'failure') => void;
}): Promise<CertificateWatcher> {
  const { files, log } = options;
  let pair = await loadCertificate(files);
  log.info(describe(pair), 'tls certificate loaded');
  const listeners: ((pair: CertificatePair) => void)[] = [];
  let checking: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  async function check(): Promise<void> {
    let next: CertificatePair;
    try {
      next = await loadCertificate(files);
    } catch (err) {
      log.warn({ err }, 'tls certificate files changed but do not load; keeping the previous pair');
      options.onReload?.('failure');
      return;
    }
    if (next.cert.equals(pair.cert) && next.key.equals(pair.key)) return;
    pair = next;
    log.info(describe(pair), 'tls certificate reloaded');
    options.onReload?.('success');
    for (const listener of listeners) listener(pair);
  }

  /** Runs one check at a time; a change seen during a check runs another after it. */
  function schedule(): void {
    if (stopped) return;
    if (checking) {
      again = true;
      return;
    }
    checking = check().finally(() => {
      checking = undefined;
      if (again) {
        again = false;
        schedule();
      }
    });
  }

  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(files.certFile), dirname(files.keyFile)])) {
    try {
      const watcher = watch(dir, { persistent: false }, () => schedule());
      watcher.on('error', (err) => log.warn({ err, dir }, 'cannot watch certificate folder'));
      watchers.push(watcher);
    } catch (err) {
      log.warn({ err, dir }, 'cannot watch certificate folder; relying on the interval');
    }
  }
  const timer = setInterval(schedule, options.intervalMs);
  timer.unref();

  return {
    current: () => pair,
    onChange(listener) {
      listeners.push(listener);
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
