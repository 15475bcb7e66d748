/**
 * RelayPool as the API serves it (spec types from core, plus the server-owned metadata the
 * operator reads) and the status it writes, mirroring the status schema in
 * crds/relaypools.hikyaku.io.yaml.
 */
import type { RelayPoolSpec } from '@hikyaku/core';
import type { V1MicroTime } from '@kubernetes/client-node';

export interface PoolMetadata {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface PoolCondition {
  type: 'Ready' | 'Progressing' | 'Degraded';
  status: ConditionStatus;
  observedGeneration: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type IpState =
  | 'Active'
  | 'Warming'
  | 'Throttled'
  | 'Paused'
  | 'Unassigned'
  | 'NodeUnavailable';

/** What the reputation guard found about one IP (docs/reputation.md). */
export interface IpReputationRow {
  condition: 'Ok' | 'Listed' | 'PtrMismatch' | 'Paused';
  reason?: 'listed' | 'ptr-mismatch' | 'block-replies';
  /** metav1.Time the IP was paused. */
  since?: string;
  listedOn?: string[];
  message?: string;
}

export interface IpStatusRow {
  address: string;
  pod?: string;
  warmupDay?: number;
  dailyLimit?: number;
  sentToday?: number;
  state: IpState;
  reputation?: IpReputationRow;
  /** Destinations that take less from this IP than declared (what shaping learned). */
  throttled?: ThrottledSiteRow[];
}

export interface ThrottledSiteRow {
  site: string;
  state: 'Paused' | 'Throttled';
  reason: 'rate' | 'connections';
  messagesPerMinute: number;
  ceiling: number;
  connections?: number;
}

export interface RelayPoolStatus {
  observedGeneration: number;
  conditions: PoolCondition[];
  ips: IpStatusRow[];
  totalIps: number;
  warmingIps: number;
  readySenders: number;
  totalSenders: number;
  sentToday: number;
}

export interface RelayPoolObject {
  apiVersion?: string;
  kind?: string;
  metadata: PoolMetadata;
  spec: RelayPoolSpec;
  status?: Partial<RelayPoolStatus>;
}

/** What the watch caches need of any object. */
export interface ObjectLike {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** The work-queue key of an object: namespace/name. */
export function objectKey(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * A MicroTime field as the API expects it (RFC 3339 with six fraction digits). client-node's
 * types say V1MicroTime, a Date its generated deserializer makes; the operator sends and
 * receives the API's JSON as it is, where the field is this string.
 */
export function microTime(at: Date | string = new Date()): V1MicroTime {
  const iso = new Date(at).toISOString();
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as V1MicroTime;
}
