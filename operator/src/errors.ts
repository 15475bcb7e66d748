/**
 * What can stop a pool from being served, each with a stable code and the one condition
 * reason it is reported under. docs/operator.md documents every reason; a test keeps the
 * two in step.
 */
import { HikyakuError } from '@hikyaku/core';

/** Condition reasons, as they appear in RelayPool status and in Events. */
export const REASONS = {
  // Ready=True
  SendersReady: 'SendersReady',
  // Ready=False (and Degraded=True for the ones a human must fix)
  SendersNotReady: 'SendersNotReady',
  SecretMissing: 'SecretMissing',
  SecretKeyMissing: 'SecretKeyMissing',
  PasswordEmpty: 'PasswordEmpty',
  DkimKeyInvalid: 'DkimKeyInvalid',
  InvalidSpec: 'InvalidSpec',
  NameTooLong: 'NameTooLong',
  NameConflict: 'NameConflict',
  PolicyNotPublished: 'PolicyNotPublished',
  KubernetesApiError: 'KubernetesApiError',
  ReconcileFailed: 'ReconcileFailed',
  // Degraded=True while the rest of the pool works
  IpNotAssignable: 'IpNotAssignable',
  SourceAddressAbsent: 'SourceAddressAbsent',
  // Progressing
  RollingOut: 'RollingOut',
  DrainingIps: 'DrainingIps',
  RolloutComplete: 'RolloutComplete',
  // Degraded=False
  AsExpected: 'AsExpected',
} as const;

export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** A failure of one pool's reconcile, reported under `reason`. */
export class PoolError extends HikyakuError {
  readonly reason: Reason;
  /** Retried with back-off (true) or waits for the user to change something (false). */
  readonly transient: boolean;

  constructor(
    code: string,
    reason: Reason,
    message: string,
    options: { cause?: unknown; transient?: boolean } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PoolError';
    this.reason = reason;
    this.transient = options.transient ?? false;
  }
}

export class SecretMissingError extends PoolError {
  constructor(message: string) {
    super('HIKYAKU_SECRET_MISSING', REASONS.SecretMissing, message);
    this.name = 'SecretMissingError';
  }
}

export class SecretKeyMissingError extends PoolError {
  constructor(message: string) {
    super('HIKYAKU_SECRET_KEY_MISSING', REASONS.SecretKeyMissing, message);
    this.name = 'SecretKeyMissingError';
  }
}

export class PasswordEmptyError extends PoolError {
  constructor(message: string) {
    super('HIKYAKU_PASSWORD_EMPTY', REASONS.PasswordEmpty, message);
    this.name = 'PasswordEmptyError';
  }
}

export class DkimKeyInvalidError extends PoolError {
  constructor(message: string, cause?: unknown) {
    super('HIKYAKU_DKIM_KEY_INVALID', REASONS.DkimKeyInvalid, message, { cause });
    this.name = 'DkimKeyInvalidError';
  }
}

export class InvalidSpecError extends PoolError {
  constructor(message: string, cause?: unknown) {
    super('HIKYAKU_INVALID_SPEC', REASONS.InvalidSpec, message, { cause });
    this.name = 'InvalidSpecError';
  }
}

export class NameTooLongError extends PoolError {
  constructor(message: string) {
    super('HIKYAKU_POOL_NAME_TOO_LONG', REASONS.NameTooLong, message);
    this.name = 'NameTooLongError';
  }
}

/** An object the operator would create (StatefulSet, Secret) exists and is not the pool's. */
export class NameConflictError extends PoolError {
  constructor(message: string) {
    super('HIKYAKU_NAME_CONFLICT', REASONS.NameConflict, message);
    this.name = 'NameConflictError';
  }
}

/** NATS KV could not be read or written; retried. */
export class PublishError extends PoolError {
  constructor(message: string, cause?: unknown) {
    super('HIKYAKU_POLICY_NOT_PUBLISHED', REASONS.PolicyNotPublished, message, {
      cause,
      transient: true,
    });
    this.name = 'PublishError';
  }
}

/** A Kubernetes API call failed; `status` is the HTTP status (0: no answer). Retried. */
export class KubeApiError extends PoolError {
  readonly status: number;
  /** The Status reason the server gave (Conflict, NotFound, ...), when it gave one. */
  readonly apiReason: string | undefined;

  constructor(message: string, status: number, apiReason: string | undefined, cause?: unknown) {
    super('HIKYAKU_KUBE_API', REASONS.KubernetesApiError, message, { cause, transient: true });
    this.name = 'KubeApiError';
    this.status = status;
    this.apiReason = apiReason;
  }
}

/** The operator called the API in a way its access table does not declare: a bug. */
export class AccessNotDeclaredError extends HikyakuError {
  constructor(message: string) {
    super('HIKYAKU_ACCESS_NOT_DECLARED', message);
    this.name = 'AccessNotDeclaredError';
  }
}

/** A write attempted by a replica that is not (or no longer) the leader. */
export class NotLeaderError extends HikyakuError {
  constructor(what: string) {
    super('HIKYAKU_NOT_LEADER', `not the leader: refusing to ${what}`);
    this.name = 'NotLeaderError';
  }
}

/** Any failure as the PoolError it is reported as. */
export function asPoolError(err: unknown): PoolError {
  if (err instanceof PoolError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PoolError('HIKYAKU_RECONCILE_FAILED', REASONS.ReconcileFailed, message, {
    cause: err,
    transient: true,
  });
}
