/**
 * What each API verb does to stored objects, following the API server's generic registry:
 * server-owned metadata, `generation` bumped only when something outside metadata and
 * status changes, optimistic concurrency on resourceVersion, the status subresource split,
 * finalizers holding a deleted object with a deletionTimestamp, and custom-resource
 * pruning, defaulting and validation. Writes that change nothing are not written (no new
 * resourceVersion, no watch event), as on a real server.
 *
 * Namespaces are created on demand: writing into a namespace that does not exist creates
 * it (phase Active) instead of answering 404, so tests need not create namespaces first.
 */
import {
  alreadyExists,
  badRequest,
  conflict,
  type ErrorSubject,
  forbidden,
  invalid,
  notFound,
  STALE_OBJECT,
  type StatusCause,
} from './errors.ts';
import {
  clone,
  deepEqual,
  generatedName,
  isRecord,
  type KubeObject,
  newUid,
  specPart,
  timestamp,
} from './object.ts';
import { applyPatch, type PatchKind } from './patch.ts';
import { apiVersionOf, type ResourceRegistry, type ResourceType, storageKey } from './resources.ts';
import type { ObjectStore } from './store.ts';

export interface WriteOptions {
  dryRun?: boolean;
}

export interface PatchOptions extends WriteOptions {
  fieldManager?: string;
  force?: boolean;
}

export interface DeleteOptions extends WriteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** Called before a write is committed; may throw a Status error to refuse it. */
export type AdmitHook = (type: ResourceType, next: KubeObject, old: KubeObject | undefined) => void;

export type Subresource = 'status' | undefined;

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAMED = ['namespaces', 'services'];

export function subject(type: ResourceType, name?: string): ErrorSubject {
  const s: ErrorSubject = { group: type.group, resource: type.plural, kind: type.kind };
  if (name !== undefined) s.name = name;
  return s;
}

function isNamespaceType(type: ResourceType): boolean {
  return type.group === '' && type.plural === 'namespaces';
}

export class ApiVerbs {
  private readonly admitHooks: AdmitHook[] = [];
  /** Uids deleted with propagationPolicy=Orphan: their dependents are released, not deleted. */
  private readonly orphaned = new Set<string>();

  constructor(
    readonly store: ObjectStore,
    readonly registry: ResourceRegistry,
  ) {}

  onAdmit(hook: AdmitHook): void {
    this.admitHooks.push(hook);
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(storageKey(type), this.scope(type, namespace), name);
    if (!obj) throw notFound(subject(type, name));
    return obj;
  }

  find(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(storageKey(type), this.scope(type, namespace), name);
  }

  create(
    type: ResourceType,
    namespace: string | undefined,
    body: unknown,
    opts: WriteOptions = {},
  ): KubeObject {
    const obj = this.fromBody(type, namespace, body);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) {
      do meta.name = generatedName(meta.generateName);
      while (this.find(type, namespace, meta.name));
    }
    this.checkName(type, meta.name);
    if (this.find(type, namespace, meta.name!)) throw alreadyExists(subject(type, meta.name));
    for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'resourceVersion']) {
      delete meta[k];
    }
    meta.uid = newUid();
    meta.creationTimestamp = timestamp();
    meta.generation = 1;
    if (type.statusSubresource) delete obj.status;
    const admitted = this.admit(type, obj, undefined);
    if (opts.dryRun) return admitted;
    if (type.namespaced) this.ensureNamespace(type, meta.namespace!, meta.name);
    return this.store.put(storageKey(type), admitted);
  }

  /** PUT: the whole object, or only `.status` when `subresource` is "status". */
  replace(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    subresource: Subresource,
    opts: WriteOptions = {},
  ): { object: KubeObject; created: boolean } {
    const current = this.find(type, namespace, name);
    if (!current) {
      if (type.allowCreateOnUpdate && !subresource) {
        return { object: this.create(type, namespace, body, opts), created: true };
      }
      throw notFound(subject(type, name));
    }
    const next = this.fromBody(type, namespace, body);
    if (next.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${next.metadata.name ?? ''}) does not match the name on the URL (${name})`,
      );
    }
    const rv = next.metadata.resourceVersion;
    if (rv && rv !== current.metadata.resourceVersion) {
      throw conflict(subject(type, name), STALE_OBJECT);
    }
    return { object: this.update(type, current, next, subresource, opts), created: false };
  }

  patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    kind: PatchKind,
    patch: unknown,
    subresource: Subresource,
    opts: PatchOptions = {},
  ): { object: KubeObject; created: boolean } {
    if (kind === 'apply' && !opts.fieldManager) {
      throw badRequest('PATCH, fieldManager is required for apply requests');
    }
    if (kind === 'apply' && (!isRecord(patch) || !patch.apiVersion || !patch.kind)) {
      throw badRequest('invalid object type: an applied configuration needs apiVersion and kind');
    }
    const current = this.find(type, namespace, name);
    if (!current) {
      if (kind === 'apply' && !subresource) {
        const body = isRecord(patch) ? clone(patch) : patch;
        const obj = { metadata: {}, ...(body as object) } as KubeObject;
        obj.metadata.name ??= name;
        return { object: this.create(type, namespace, obj, opts), created: true };
      }
      throw notFound(subject(type, name));
    }
    const patched = applyPatch(kind, current, patch);
    if (!isRecord(patched) || !isRecord(patched.metadata)) {
      throw badRequest('the patched object is not a Kubernetes object');
    }
    const next = patched as KubeObject;
    // A patch that sets a resourceVersion makes itself conditional on it; one that removes
    // it is unconditional.
    const rv = next.metadata.resourceVersion;
    if (rv && rv !== current.metadata.resourceVersion) {
      throw conflict(subject(type, name), STALE_OBJECT);
    }
    if (next.metadata.name !== name) {
      throw badRequest('metadata.name cannot be changed by a patch');
    }
    next.apiVersion = apiVersionOf(type);
    next.kind = type.kind;
    return { object: this.update(type, current, next, subresource, opts), created: false };
  }

  /**
   * Deletes, or with finalizers present marks the object deleting and keeps it until
   * the last finalizer is removed. `deleted` says whether it is gone.
   */
  remove(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): { object: KubeObject; deleted: boolean } {
    const current = this.get(type, namespace, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== current.metadata.uid) {
      throw conflict(
        subject(type, name),
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(
        subject(type, name),
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
      );
    }
    if (opts.dryRun) return { object: current, deleted: false };
    if (opts.propagationPolicy === 'Orphan') this.orphaned.add(current.metadata.uid!);
    if (isNamespaceType(type)) {
      // A namespace stays, Terminating, until the namespace controller (gc.ts) has seen
      // everything in it go, finalizers included; then it goes too.
      if (current.metadata.deletionTimestamp) return { object: current, deleted: false };
      const marked = clone(current);
      marked.metadata.deletionTimestamp = timestamp();
      marked.metadata.deletionGracePeriodSeconds = 0;
      marked.status = { ...(isRecord(marked.status) ? marked.status : {}), phase: 'Terminating' };
      return { object: this.store.put(storageKey(type), marked), deleted: false };
    }
    if (current.metadata.finalizers?.length) {
      if (current.metadata.deletionTimestamp) return { object: current, deleted: false };
      const marked = clone(current);
      marked.metadata.deletionTimestamp = timestamp();
      marked.metadata.deletionGracePeriodSeconds = 0;
      marked.metadata.generation = (current.metadata.generation ?? 0) + 1;
      return { object: this.store.put(storageKey(type), marked), deleted: false };
    }
    const final = this.store.remove(storageKey(type), current.metadata.namespace, name)!;
    return { object: final, deleted: true };
  }

  /** Whether dependents of a deleted owner should be released rather than deleted. */
  takeOrphaned(uid: string): boolean {
    return this.orphaned.delete(uid);
  }

  private update(
    type: ResourceType,
    current: KubeObject,
    body: KubeObject,
    subresource: Subresource,
    opts: WriteOptions,
  ): KubeObject {
    let next: KubeObject;
    if (subresource === 'status') {
      next = clone(current);
      if (body.status === undefined) delete next.status;
      else next.status = body.status;
    } else {
      next = body;
      const meta = next.metadata;
      const cur = current.metadata;
      for (const k of ['uid', 'creationTimestamp', 'generation', 'resourceVersion', 'namespace']) {
        meta[k] = cur[k];
      }
      meta.deletionTimestamp = cur.deletionTimestamp;
      meta.deletionGracePeriodSeconds = cur.deletionGracePeriodSeconds;
      if (type.statusSubresource) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
      if (cur.deletionTimestamp) this.checkNoNewFinalizers(type, current, next);
    }
    const admitted = this.admit(type, next, current);
    const excludeStatus = type.statusSubresource;
    if (!deepEqual(specPart(admitted, excludeStatus), specPart(current, excludeStatus))) {
      admitted.metadata.generation = (current.metadata.generation ?? 0) + 1;
    }
    if (deepEqual(admitted, current) || opts.dryRun) return admitted;
    const key = storageKey(type);
    if (admitted.metadata.deletionTimestamp && !admitted.metadata.finalizers?.length) {
      const { namespace, name } = admitted.metadata;
      return this.store.remove(key, namespace, name!, admitted)!;
    }
    return this.store.put(key, admitted);
  }

  /** Parses a request body into an object of `type`, scoped to the request's namespace. */
  private fromBody(type: ResourceType, namespace: string | undefined, body: unknown): KubeObject {
    if (!isRecord(body)) throw badRequest('the request body must be a JSON object');
    const obj = clone(body) as KubeObject;
    if (!isRecord(obj.metadata)) obj.metadata = {};
    if (obj.kind !== undefined && obj.kind !== type.kind) {
      throw badRequest(
        `the kind of the provided object (${String(obj.kind)}) does not match ${type.kind}`,
      );
    }
    obj.apiVersion = apiVersionOf(type);
    obj.kind = type.kind;
    const ns = this.scope(type, namespace);
    if (ns === undefined) {
      delete obj.metadata.namespace;
    } else {
      if (obj.metadata.namespace && obj.metadata.namespace !== ns) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = ns;
    }
    return obj;
  }

  private scope(type: ResourceType, namespace: string | undefined): string | undefined {
    return type.namespaced ? namespace : undefined;
  }

  private checkName(type: ResourceType, name: string | undefined): void {
    const fail = (message: string) =>
      invalid(subject(type, name ?? ''), [
        {
          reason: name ? 'FieldValueInvalid' : 'FieldValueRequired',
          field: 'metadata.name',
          message,
        },
      ]);
    if (!name) throw fail('Required value: name or generateName is required');
    const label = LABEL_NAMED.includes(type.plural) && !type.group;
    const ok = label
      ? LABEL.test(name) && name.length <= 63
      : SUBDOMAIN.test(name) && name.length <= 253;
    if (!ok) {
      const what = label ? 'RFC 1123 label' : 'RFC 1123 subdomain';
      throw fail(
        `Invalid value: "${name}": a lowercase ${what} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      );
    }
  }

  private checkNoNewFinalizers(type: ResourceType, current: KubeObject, next: KubeObject): void {
    const before = new Set(current.metadata.finalizers ?? []);
    const added = (next.metadata.finalizers ?? []).filter((f) => !before.has(f));
    if (added.length > 0) {
      throw invalid(subject(type, current.metadata.name), [
        {
          reason: 'FieldValueForbidden',
          field: 'metadata.finalizers',
          message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
        },
      ]);
    }
  }

  /** Custom-resource normalisation and validation, then the admission hooks. */
  private admit(type: ResourceType, next: KubeObject, old: KubeObject | undefined): KubeObject {
    let obj = next;
    if (type.validator) {
      obj = type.validator.normalize(obj);
      const causes: StatusCause[] = type.validator.validate(obj, old);
      if (causes.length > 0) throw invalid(subject(type, obj.metadata.name), causes);
    }
    for (const hook of this.admitHooks) hook(type, obj, old);
    return obj;
  }

  /** Removes a Terminating namespace once nothing is left in it; whether it went. */
  finishNamespace(name: string): boolean {
    const nsType = this.registry.lookup('', 'v1', 'namespaces')!;
    const ns = this.find(nsType, undefined, name);
    if (!ns?.metadata.deletionTimestamp) return false;
    for (const { object } of this.store.entries()) {
      if (object.metadata.namespace === name) return false;
    }
    this.store.remove(storageKey(nsType), undefined, name);
    return true;
  }

  private ensureNamespace(type: ResourceType, name: string, objectName?: string): void {
    const nsType = this.registry.lookup('', 'v1', 'namespaces')!;
    const ns = this.find(nsType, undefined, name);
    if (ns?.metadata.deletionTimestamp) {
      throw forbidden(
        subject(type, objectName),
        `unable to create new content in namespace ${name} because it is being terminated`,
      );
    }
    if (ns) return;
    this.create(nsType, undefined, { metadata: { name } });
  }
}
