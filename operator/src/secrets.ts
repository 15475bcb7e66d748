/**
 * What a pool takes from Secrets: submitter passwords, published only as salted scrypt
 * hashes; DKIM private keys, checked here and mounted into the sender pods; and the secret
 * return path tokens are signed with, published only as the pool's derived key. Secrets are
 * read from the operator's watch cache.
 *
 * scrypt is slow and salted, so a hash is computed only when the Secret's resourceVersion
 * changes; after a restart (or on a new leader) the hash already published is kept when the
 * password still verifies against it. An unchanged pool therefore compiles to the same
 * policy, and NATS KV is not rewritten for nothing.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import type { CompiledPool } from '@hikyaku/core';
import { hashPassword, verifyPassword } from '@hikyaku/core';
import type { V1Secret } from '@kubernetes/client-node';
import {
  DkimKeyInvalidError,
  PasswordEmptyError,
  PoolError,
  SecretKeyMissingError,
  SecretMissingError,
} from './errors.ts';
import type { RelayPoolObject } from './kube/objects.ts';

export interface ResolvedSecrets {
  /** Submitter username -> salted hash. */
  passwordHashes: Record<string, string>;
  /** Names of the Secrets holding DKIM keys, sorted. */
  dkimSecrets: string[];
  /** Identifies the DKIM Secrets' contents; '' when there are none. */
  dkimVersion: string;
  /** The secret of feedback.signingKeySecretRef, when the pool has one. */
  feedbackSecret?: string;
  /**
   * Names of the Secrets holding webhook signing secrets, sorted; mounted into the sender
   * pods, which read the secret before each batch (so a changed value needs no restart).
   */
  webhookSecrets?: string[];
}

export interface SecretResolver {
  resolve(pool: RelayPoolObject, published: CompiledPool | undefined): Promise<ResolvedSecrets>;
  /** Names of the Secrets a pool refers to (in its namespace). */
  referenced(pool: RelayPoolObject): string[];
  /** Forgets cached hashes of a pool that is gone. */
  forget(pool: { namespace: string; name: string }): void;
}

export interface SecretResolverOptions {
  secret(namespace: string, name: string): V1Secret | undefined;
  /** scrypt cost (N) of new hashes; the library default when absent. */
  hashCost?: number;
}

interface CachedHash {
  /** Secret uid and resourceVersion the hash was made from. */
  version: string;
  hash: string;
}

function decode(secret: V1Secret, key: string): string | undefined {
  const data = secret.data?.[key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

export function createSecretResolver(options: SecretResolverOptions): SecretResolver {
  const hashes = new Map<string, CachedHash>();
  const cacheKey = (ns: string, pool: string, user: string) => `${ns}/${pool}/${user}`;

  /** The value under secretRef, or the problem that stops it from being read. */
  function read(
    namespace: string,
    ref: { name: string; key: string },
    purpose: string,
    field: string,
  ): { value: string; secret: V1Secret } | PoolError {
    const secret = options.secret(namespace, ref.name);
    if (!secret) {
      return new SecretMissingError(
        `Secret ${namespace}/${ref.name} (${purpose}) does not exist: create it, or fix ${field}`,
      );
    }
    const value = decode(secret, ref.key);
    if (value === undefined) {
      return new SecretKeyMissingError(
        `Secret ${namespace}/${ref.name} has no key "${ref.key}" (${purpose}): add it, or fix ${field}.key`,
      );
    }
    return { value, secret };
  }

  async function passwordHash(
    pool: RelayPoolObject,
    username: string,
    password: string,
    secret: V1Secret,
    published: CompiledPool | undefined,
  ): Promise<string> {
    const { namespace, name } = pool.metadata;
    const key = cacheKey(namespace, name, username);
    const version = `${secret.metadata?.uid}@${secret.metadata?.resourceVersion}`;
    const cached = hashes.get(key);
    if (cached?.version === version) return cached.hash;
    const previous = published?.submitters.find((s) => s.username === username)?.passwordHash;
    let hash: string | undefined;
    if (previous) {
      // A malformed published hash is replaced, not trusted.
      const same = await verifyPassword(password, previous).catch(() => false);
      if (same) hash = previous;
    }
    hash ??= await hashPassword(password, options.hashCost ? { cost: options.hashCost } : {});
    hashes.set(key, { version, hash });
    return hash;
  }

  return {
    referenced(pool) {
      const names = new Set<string>();
      for (const s of pool.spec.submitters ?? []) {
        if (s.passwordSecretRef) names.add(s.passwordSecretRef.name);
      }
      for (const d of pool.spec.dkim ?? []) {
        if (d.privateKeySecretRef) names.add(d.privateKeySecretRef.name);
      }
      const signing = pool.spec.feedback?.signingKeySecretRef;
      if (signing) names.add(signing.name);
      for (const w of pool.spec.webhooks ?? []) {
        if (w.secretKeyRef) names.add(w.secretKeyRef.name);
      }
      return [...names].sort();
    },

    async resolve(pool, published) {
      const { namespace } = pool.metadata;
      const problems: PoolError[] = [];
      const passwordHashes: Record<string, string> = {};
      for (const [i, s] of (pool.spec.submitters ?? []).entries()) {
        if (!s.passwordSecretRef) continue;
        const field = `spec.submitters[${i}].passwordSecretRef`;
        const got = read(
          namespace,
          s.passwordSecretRef,
          `password of submitter ${s.username}`,
          field,
        );
        if (got instanceof PoolError) {
          problems.push(got);
          continue;
        }
        // As in local mode: one trailing line break (from `echo` or a file) is not part of it.
        const password = got.value.replace(/\r?\n$/, '');
        if (password === '') {
          problems.push(
            new PasswordEmptyError(
              `the password of submitter ${s.username} in Secret ${namespace}/${s.passwordSecretRef.name} is empty`,
            ),
          );
          continue;
        }
        passwordHashes[s.username] = await passwordHash(
          pool,
          s.username,
          password,
          got.secret,
          published,
        );
      }

      const dkimSecrets = new Map<string, string>();
      for (const [i, d] of (pool.spec.dkim ?? []).entries()) {
        if (!d.privateKeySecretRef) continue;
        const ref = d.privateKeySecretRef;
        const field = `spec.dkim[${i}].privateKeySecretRef`;
        const got = read(namespace, ref, `DKIM key of ${d.selector}._domainkey.${d.domain}`, field);
        if (got instanceof PoolError) {
          problems.push(got);
          continue;
        }
        const invalid = checkPrivateKey(got.value);
        if (invalid) {
          problems.push(
            new DkimKeyInvalidError(
              `the DKIM key of ${d.domain} (Secret ${namespace}/${ref.name}, key "${ref.key}") is not usable: ${invalid}`,
            ),
          );
          continue;
        }
        dkimSecrets.set(
          ref.name,
          `${got.secret.metadata?.uid}@${got.secret.metadata?.resourceVersion}`,
        );
      }

      let feedbackSecret: string | undefined;
      const signing = pool.spec.feedback?.signingKeySecretRef;
      if (signing) {
        const field = 'spec.feedback.signingKeySecretRef';
        const got = read(namespace, signing, 'return path signing key', field);
        if (got instanceof PoolError) problems.push(got);
        else feedbackSecret = got.value;
      }

      const webhookSecrets = new Set<string>();
      for (const [i, w] of (pool.spec.webhooks ?? []).entries()) {
        if (!w.secretKeyRef) continue;
        const field = `spec.webhooks[${i}].secretKeyRef`;
        const got = read(namespace, w.secretKeyRef, `signing secret of webhook ${w.name}`, field);
        if (got instanceof PoolError) problems.push(got);
        else if (got.value.replace(/\r?\n$/, '') === '') {
          problems.push(
            new SecretKeyMissingError(
              `the signing secret of webhook ${w.name} in Secret ${namespace}/${w.secretKeyRef.name} (key "${w.secretKeyRef.key}") is empty`,
            ),
          );
        } else webhookSecrets.add(w.secretKeyRef.name);
      }

      if (problems.length > 0) throw combine(problems);
      const names = [...dkimSecrets.keys()].sort();
      const dkimVersion =
        names.length === 0
          ? ''
          : createHash('sha256')
              .update(names.map((n) => `${n}=${dkimSecrets.get(n)}`).join('\n'))
              .digest('hex')
              .slice(0, 16);
      return {
        passwordHashes,
        dkimSecrets: names,
        dkimVersion,
        ...(feedbackSecret !== undefined ? { feedbackSecret } : {}),
        ...(webhookSecrets.size > 0 ? { webhookSecrets: [...webhookSecrets].sort() } : {}),
      };
    },

    forget({ namespace, name }) {
      const prefix = `${namespace}/${name}/`;
      for (const key of [...hashes.keys()]) if (key.startsWith(prefix)) hashes.delete(key);
    },
  };
}

/** Why a PEM text is not an RSA or Ed25519 private key; undefined when it is one. */
export function checkPrivateKey(pem: string): string | undefined {
  try {
    const key = createPrivateKey(pem);
    const type = key.asymmetricKeyType;
    if (type !== 'rsa' && type !== 'ed25519') {
      return `a key of type ${type ?? 'unknown'}; DKIM signs with rsa or ed25519`;
    }
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (type === 'rsa' && bits !== undefined && bits < 1024) {
      return `an RSA key of ${bits} bits; receivers ignore signatures under 1024 bits`;
    }
    return undefined;
  } catch (err) {
    return `not a PEM private key (${(err as Error).message})`;
  }
}

/** One error for several problems: the first one's reason, every message. */
function combine(problems: PoolError[]): PoolError {
  const [first] = problems as [PoolError];
  if (problems.length === 1) return first;
  return new PoolError(first.code, first.reason, problems.map((p) => p.message).join('; '));
}
