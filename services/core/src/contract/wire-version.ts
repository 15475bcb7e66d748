/**
 * The wire versions of queue items, jobs and results (delivery.ts), apart from their
 * schemas so that configuration can name them without loading a schema compiler.
 */

/** The wire versions this code reads; it writes either. */
export const WIRE_VERSIONS = [1, 2] as const;
export type WireVersion = (typeof WIRE_VERSIONS)[number];
/**
 * The version every release reads: what encoders write when not told, and where a relay an
 * earlier release set up stays until raised (relay-wire-version.ts).
 */
export const DEFAULT_WIRE_VERSION: WireVersion = 1;
/** The newest version this code reads and writes: where a relay it sets up starts. */
export const NEWEST_WIRE_VERSION: WireVersion = WIRE_VERSIONS[WIRE_VERSIONS.length - 1] ?? 1;
/**
 * How long a reader hands back a message of a newer wire version before looking again: by
 * then a pod of the newer release (the one that wrote it) may have taken it.
 */
export const NEWER_WIRE_VERSION_RETRY_MS = 30_000;
