/**
 * The pool's DKIM keys as the sender holds them: read from the files the pool names (the
 * mounted Secrets) when the sender starts and whenever the pool changes. A key that cannot
 * be read or used takes only its own domain out: mail that domain's key would sign is held
 * (deferred) rather than sent unsigned, the problem is logged, and the file is read again
 * on later messages, since a Secret update can reach the pod after the pool change does.
 */
import { readFile as readFileFromDisk } from 'node:fs/promises';
import type { CompiledDkimKey, Logger } from '@hikyaku/core';
import { SigningUnavailableError } from '../errors.ts';
import { normaliseDomain } from '../routing/domain.ts';
import { domainOfAddress, parseFromDomain } from './from-domain.ts';
import { chooseSigningDomain, type DkimKey, prepareKeys } from './keys.ts';
import { createDkimSigner, type DkimSigner } from './signer.ts';

/** A broken key's file is read again at most this often while mail waits for it. */
export const DKIM_RELOAD_INTERVAL_MS = 30_000;

export interface DkimKeyring {
  /** Reads the keys' files; never throws, problems are logged and held against their domain. */
  load(keys: readonly CompiledDkimKey[]): Promise<void>;
  /**
   * The message signed with the pool's key for its header-From (else envelope) domain, or
   * unchanged when the pool has no key for it. Throws SigningUnavailableError when the key
   * that should sign could not be loaded, and DkimSignError when signing failed.
   */
  sign(message: Buffer, mailFrom: string): Promise<Buffer>;
  /** Domains whose key could not be loaded, for status and tests. */
  broken(): string[];
}

export function createDkimKeyring(options: {
  log: Logger;
  clock: { now(): number };
  readFile?: (path: string) => Promise<Buffer>;
}): DkimKeyring {
  const readFile = options.readFile ?? ((path: string) => readFileFromDisk(path));
  let declared: readonly CompiledDkimKey[] = [];
  let signer: DkimSigner = createDkimSigner([], { clock: options.clock });
  /** Every domain the pool declares a key for. */
  let domains = new Set<string>();
  let failures = new Map<string, Error>();
  let loadedAt = 0;
  let loading: Promise<void> | undefined;

  async function readKey(key: CompiledDkimKey): Promise<DkimKey> {
    const privateKey = await readFile(key.keyFile);
    const prepared: DkimKey = { domain: key.domain, selector: key.selector, privateKey };
    prepareKeys([prepared]);
    return prepared;
  }

  async function loadNow(keys: readonly CompiledDkimKey[]): Promise<void> {
    const good: DkimKey[] = [];
    const problems = new Map<string, Error>();
    for (const key of keys) {
      try {
        good.push(await readKey(key));
      } catch (err) {
        const domain = normaliseDomain(key.domain);
        options.log.error(
          { err, domain, selector: key.selector, file: key.keyFile },
          'DKIM key unusable; mail this key signs is held until it loads',
        );
        problems.set(domain, err as Error);
      }
    }
    const usable = new Set(good.map((k) => normaliseDomain(k.domain)));
    // A domain with one good key of several (a rotation half done) still signs.
    for (const domain of usable) problems.delete(domain);
    declared = keys;
    signer = createDkimSigner(good, { clock: options.clock });
    domains = new Set(keys.map((k) => normaliseDomain(k.domain)));
    failures = problems;
    loadedAt = options.clock.now();
  }

  function load(keys: readonly CompiledDkimKey[]): Promise<void> {
    const next = (loading ?? Promise.resolve()).then(() => loadNow(keys));
    loading = next.finally(() => {
      if (loading === next) loading = undefined;
    });
    return next;
  }

  function domainFor(message: Buffer, mailFrom: string): string | undefined {
    const envelopeDomain = mailFrom ? domainOfAddress(mailFrom) : undefined;
    return chooseSigningDomain(domains, parseFromDomain(message), envelopeDomain);
  }

  return {
    load,
    async sign(message, mailFrom) {
      // Without a key nothing is signed: the message's header section is not even read.
      if (domains.size === 0) return message;
      let domain = domainFor(message, mailFrom);
      if (domain !== undefined && failures.has(domain)) {
        if (options.clock.now() - loadedAt >= DKIM_RELOAD_INTERVAL_MS) {
          await load(declared);
          domain = domainFor(message, mailFrom);
        }
        if (domain !== undefined && failures.has(domain)) {
          throw new SigningUnavailableError(domain, { cause: failures.get(domain) });
        }
      }
      return signer.sign(message, { mailFrom });
    },
    broken: () => [...failures.keys()],
  };
}
