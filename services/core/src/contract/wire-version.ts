/**
 * The wire versions of queue items, jobs and results (delivery.ts), apart from their
 * schemas so that configuration can name them without loading a schema compiler.
 */

/** The wire versions this code reads; it writes either. */
export const WIRE_VERSIONS = [1, 2] as const;
export type WireVersion = (typeof WIRE_VERSIONS)[number];
/** What encoders write unless configured otherwise: the version every running reader knows. */
export const DEFAULT_WIRE_VERSION: WireVersion = 1;
/**
 * How long a reader hands back a message of a newer wire version before looking again: by
 * then a pod of the newer release (the one that wrote it) may have taken it.
 */
export const NEWER_WIRE_VERSION_RETRY_MS = 30_000;
