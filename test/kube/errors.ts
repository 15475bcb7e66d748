/**
 * Failures as the Kubernetes API server reports them: a `kind: Status` body with a reason
 * and an HTTP code. Clients (and the operator) branch on `reason` and `code`, so every
 * failure the stand-in produces goes through one of these constructors.
 */

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Forbidden'
  | 'Conflict'
  | 'Forbidden'
  | 'Invalid'
  | 'Expired'
  | 'Gone'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** The resource an error is about, named as the API server names it in messages. */
export interface ErrorSubject {
  group: string;
  /** The plural resource name, e.g. `secrets` or `relaypools`. */
  resource: string;
  kind: string;
  name?: string;
}

/** One failure; `code` is the stable reason, `status` the HTTP status it is served with. */
export class KubeStatusError extends Error {
  override readonly name = 'KubeStatusError';
  readonly code: StatusReason;
  readonly status: number;
  readonly details: StatusDetails | undefined;

  constructor(
    status: number,
    code: StatusReason,
    message: string,
    details?: StatusDetails,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.status = status;
    this.code = code;
    this.details = details;
  }

  toStatus(): StatusBody {
    const body: StatusBody = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.code,
      code: this.status,
    };
    if (this.details) body.details = this.details;
    return body;
  }
}

/** `secrets` for the core group, `relaypools.hikyaku.io` elsewhere, as in server messages. */
export function qualifiedResource(subject: ErrorSubject): string {
  return subject.group ? `${subject.resource}.${subject.group}` : subject.resource;
}

function resourceDetails(subject: ErrorSubject): StatusDetails {
  const details: StatusDetails = { kind: subject.resource };
  if (subject.name !== undefined) details.name = subject.name;
  if (subject.group) details.group = subject.group;
  return details;
}

export function notFound(subject: ErrorSubject): KubeStatusError {
  return new KubeStatusError(
    404,
    'NotFound',
    `${qualifiedResource(subject)} "${subject.name ?? ''}" not found`,
    resourceDetails(subject),
  );
}

export function alreadyExists(subject: ErrorSubject): KubeStatusError {
  return new KubeStatusError(
    409,
    'AlreadyExists',
    `${qualifiedResource(subject)} "${subject.name ?? ''}" already exists`,
    resourceDetails(subject),
  );
}

export function conflict(subject: ErrorSubject, why: string): KubeStatusError {
  return new KubeStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(subject)} "${subject.name ?? ''}": ${why}`,
    resourceDetails(subject),
  );
}

/** 403 as admission answers it, e.g. new content in a namespace being terminated. */
export function forbidden(subject: ErrorSubject, why: string): KubeStatusError {
  return new KubeStatusError(
    403,
    'Forbidden',
    `${qualifiedResource(subject)} "${subject.name ?? ''}" is forbidden: ${why}`,
    resourceDetails(subject),
  );
}

export const STALE_OBJECT =
  'the object has been modified; please apply your changes to the latest version and try again';

/** 422 with one cause per failing field, the message listing them as the server does. */
export function invalid(subject: ErrorSubject, causes: StatusCause[]): KubeStatusError {
  const kind = subject.group ? `${subject.kind}.${subject.group}` : subject.kind;
  const parts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const listed = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const details: StatusDetails = { kind: subject.kind, causes };
  if (subject.name !== undefined) details.name = subject.name;
  if (subject.group) details.group = subject.group;
  return new KubeStatusError(
    422,
    'Invalid',
    `${kind} "${subject.name ?? ''}" is invalid: ${listed}`,
    details,
  );
}

/** What a watch gets when its resourceVersion is older than the history kept. */
export function expired(message: string): KubeStatusError {
  return new KubeStatusError(410, 'Expired', message);
}

export function badRequest(message: string): KubeStatusError {
  return new KubeStatusError(400, 'BadRequest', message);
}

export function unsupportedMediaType(contentType: string, accepted: string[]): KubeStatusError {
  return new KubeStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format (${contentType || 'none'}) - accepted media types include: ${accepted.join(', ')}`,
  );
}

export function methodNotAllowed(method: string): KubeStatusError {
  return new KubeStatusError(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method})`,
  );
}

export function unauthorized(): KubeStatusError {
  return new KubeStatusError(401, 'Unauthorized', 'Unauthorized');
}

/** The reason a real server gives for each status code the fault injector may serve. */
export function injectedFailure(status: number): KubeStatusError {
  const reasons: Record<number, StatusReason> = {
    429: 'TooManyRequests',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  const reason = reasons[status] ?? 'InternalError';
  const details: StatusDetails | undefined = status === 429 ? { retryAfterSeconds: 1 } : undefined;
  return new KubeStatusError(status, reason, `injected failure (${status})`, details);
}

export function internalError(cause: unknown): KubeStatusError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new KubeStatusError(
    500,
    'InternalError',
    `Internal error occurred: ${message}`,
    undefined,
    cause,
  );
}

export function toKubeStatusError(err: unknown): KubeStatusError {
  return err instanceof KubeStatusError ? err : internalError(err);
}
