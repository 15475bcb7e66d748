/**
 * What the API server does to built-in objects that a client can get wrong:
 * MicroTime fields (Lease acquire/renew times, Event times) must carry exactly six
 * fractional digits — a plain `Date` from client-node serialises with three and a real
 * server answers 400, so use client-node's `V1MicroTime` — Secret `data` must be base64,
 * Secret `stringData` is folded into `data` and never stored, and events.k8s.io Events
 * need the fields the server requires of them.
 */
import { invalid, KubeStatusError, type StatusCause } from './errors.ts';
import { isRecord, type KubeObject } from './object.ts';
import { type ResourceType, storageKey } from './resources.ts';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const MICRO_TIME_FIELDS: Record<string, string[][]> = {
  'leases.coordination.k8s.io': [
    ['spec', 'acquireTime'],
    ['spec', 'renewTime'],
  ],
  'events.events.k8s.io': [['eventTime'], ['series', 'lastObservedTime']],
  events: [['eventTime'], ['series', 'lastObservedTime']],
};

function cannotDecode(type: ResourceType, why: string): KubeStatusError {
  return new KubeStatusError(
    400,
    'BadRequest',
    `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: ${why}`,
  );
}

function valueAt(obj: KubeObject, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = isRecord(cur) ? cur[p] : undefined;
  return cur;
}

function checkMicroTimes(type: ResourceType, obj: KubeObject): void {
  for (const path of MICRO_TIME_FIELDS[storageKey(type)] ?? []) {
    const v = valueAt(obj, path);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !MICRO_TIME.test(v)) {
      throw cannotDecode(
        type,
        `parsing time ${JSON.stringify(v)} as "2006-01-02T15:04:05.000000Z07:00": ${path.join('.')} must have six fractional digits`,
      );
    }
  }
}

function foldSecretData(type: ResourceType, obj: KubeObject): void {
  const stringData = obj.stringData;
  if (isRecord(stringData)) {
    const data = isRecord(obj.data) ? obj.data : {};
    for (const [k, v] of Object.entries(stringData)) {
      data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    }
    obj.data = data;
  }
  delete obj.stringData;
  for (const [k, v] of Object.entries(isRecord(obj.data) ? obj.data : {})) {
    if (typeof v !== 'string' || !BASE64.test(v)) {
      throw cannotDecode(type, `illegal base64 data in data[${k}]`);
    }
  }
}

const EVENT_REQUIRED = [
  'eventTime',
  'reportingController',
  'reportingInstance',
  'action',
  'reason',
];

function checkEvent(type: ResourceType, obj: KubeObject): void {
  const causes: StatusCause[] = EVENT_REQUIRED.filter((f) => !obj[f]).map((field) => ({
    reason: 'FieldValueRequired',
    field,
    message: 'Required value',
  }));
  if (obj.type !== 'Normal' && obj.type !== 'Warning') {
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'type',
      message: `Unsupported value: ${JSON.stringify(obj.type ?? '')}: supported values: "Normal", "Warning"`,
    });
  }
  if (causes.length > 0) {
    const name = obj.metadata.name;
    throw invalid({ group: type.group, resource: type.plural, kind: type.kind, name }, causes);
  }
}

/** An admission hook: refuses undecodable built-in objects, normalises Secrets in place. */
export function admitBuiltin(type: ResourceType, obj: KubeObject): void {
  if (type.custom) return;
  checkMicroTimes(type, obj);
  const key = storageKey(type);
  if (key === 'secrets') foldSecretData(type, obj);
  if (key === 'events.events.k8s.io') checkEvent(type, obj);
}
