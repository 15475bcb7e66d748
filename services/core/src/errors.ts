/**
 * Errors carry a stable code so that callers branch on the code, not on the text, and so
 * that each maps to one SMTP reply or one status condition reason.
 */
export class HikyakuError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HikyakuError';
    this.code = code;
  }
}

export class ConfigError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_BAD_CONFIG', message, options);
    this.name = 'ConfigError';
  }
}

export class SchemaError extends HikyakuError {
  readonly issues: string[];

  constructor(what: string, issues: string[]) {
    super('HIKYAKU_BAD_MESSAGE', `invalid ${what}: ${issues.join('; ')}`);
    this.name = 'SchemaError';
    this.issues = issues;
  }
}

/**
 * A message written in a wire version newer than this code reads (a pod of a later
 * release wrote it): not malformed, so it is handed back for a reader that knows it.
 */
export class WireVersionError extends HikyakuError {
  readonly version: number;

  constructor(what: string, version: number, newest: number) {
    super(
      'HIKYAKU_WIRE_VERSION_NEWER',
      `${what} has wire version ${version}; this release reads up to ${newest}`,
    );
    this.name = 'WireVersionError';
    this.version = version;
  }
}

export class StoreUnavailableError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_STORE_UNAVAILABLE', message, options);
    this.name = 'StoreUnavailableError';
  }
}

export class BodyMissingError extends HikyakuError {
  constructor(messageId: string) {
    super('HIKYAKU_BODY_MISSING', `message body ${messageId} is not in the store`);
    this.name = 'BodyMissingError';
  }
}

/** JetStream did not answer at start-up (no cluster metadata leader) or is not enabled. */
export class JetStreamUnavailableError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_JETSTREAM_UNAVAILABLE', message, options);
    this.name = 'JetStreamUnavailableError';
  }
}

/** JetStream refused a stream or bucket as configured (e.g. more replicas than servers). */
export class StreamSetupError extends HikyakuError {
  readonly stream: string;

  constructor(stream: string, message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_STREAM_SETUP', `stream ${stream}: ${message}`, options);
    this.name = 'StreamSetupError';
    this.stream = stream;
  }
}
