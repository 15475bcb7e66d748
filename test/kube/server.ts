/**
 * The HTTP face of the stand-in: Kubernetes REST paths and verbs mapped onto `ApiVerbs`,
 * answers and failures encoded as the API server encodes them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import {
  badRequest,
  injectedFailure,
  KubeStatusError,
  methodNotAllowed,
  toKubeStatusError,
  unauthorized,
  unsupportedMediaType,
} from './errors.ts';
import type { FaultState, RequestInfo } from './faults.ts';
import { isRecord, type KubeObject } from './object.ts';
import { parsePatchBody, patchKindOf } from './patch.ts';
import {
  apiGroupDoc,
  apiGroupListDoc,
  apiResourceListDoc,
  apiVersionOf,
  apiVersionsDoc,
  type ResourceRegistry,
  type ResourceType,
  storageKey,
  versionDoc,
} from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { ApiVerbs, DeleteOptions, Subresource } from './verbs.ts';
import type { WatchHub } from './watch.ts';

export interface ServerDeps {
  verbs: ApiVerbs;
  registry: ResourceRegistry;
  hub: WatchHub;
  faults: FaultState;
  token: string | undefined;
  /** Sees every request to a resource or discovery path, before faults are applied. */
  onRequest?: (req: RequestInfo) => void;
}

interface Target {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: Subresource;
  watch: boolean;
}

const MAX_BODY = 3 * 1024 * 1024;

function notFoundPath(): KubeStatusError {
  return new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** An object as served at the requested version, apiVersion and kind first. */
export function render(type: ResourceType, obj: KubeObject): KubeObject {
  const { apiVersion: _stored, kind: _kind, ...rest } = obj;
  return { apiVersion: apiVersionOf(type), kind: type.kind, ...rest };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new KubeStatusError(413, 'BadRequest', 'request entity too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseObjectBody(raw: string, contentType: string | undefined): unknown {
  const media = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  try {
    if (media === 'application/json' || media === '') return JSON.parse(raw);
    if (media === 'application/yaml') return parseYaml(raw);
  } catch (err) {
    throw new KubeStatusError(400, 'BadRequest', `error decoding body: ${(err as Error).message}`);
  }
  throw unsupportedMediaType(media, ['application/json', 'application/yaml']);
}

/** Discovery documents and health endpoints; undefined when the path is a resource path. */
function discovery(registry: ResourceRegistry, parts: string[]): unknown {
  const [root, a, b] = parts;
  if (parts.length === 1 && root === 'version') return versionDoc();
  if (parts.length === 1 && root === 'api') return apiVersionsDoc();
  if (parts.length === 2 && root === 'api') return apiResourceListDoc(registry, '', a!);
  if (parts.length === 1 && root === 'apis') return apiGroupListDoc(registry);
  if (parts.length === 2 && root === 'apis') return apiGroupDoc(registry, a!);
  if (parts.length === 3 && root === 'apis') return apiResourceListDoc(registry, a!, b!);
  return undefined;
}

function resolveTarget(registry: ResourceRegistry, parts: string[]): Target {
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api') [group, version, rest] = ['', parts[1]!, parts.slice(2)];
  else if (parts[0] === 'apis') [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
  else throw notFoundPath();
  let watch = false;
  if (rest[0] === 'watch') [watch, rest] = [true, rest.slice(1)];
  let namespace: string | undefined;
  const namespaceSub = group === '' && ['status', 'finalize'].includes(rest[2] ?? '');
  if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSub) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, sub, ...extra] = rest;
  const type = plural ? registry.lookup(group, version, plural) : undefined;
  if (!type || extra.length > 0) throw notFoundPath();
  if (sub !== undefined && (sub !== 'status' || !type.statusSubresource)) throw notFoundPath();
  if (!type.namespaced && namespace !== undefined) throw notFoundPath();
  if (type.namespaced && name !== undefined && namespace === undefined) throw notFoundPath();
  return { type, namespace, name, subresource: sub as Subresource, watch };
}

function isWatch(url: URL, target: Target): boolean {
  const w = url.searchParams.get('watch');
  return target.watch || w === 'true' || w === '1';
}

function dryRun(url: URL, body?: unknown): boolean {
  const fromBody = isRecord(body) && Array.isArray(body.dryRun) && body.dryRun.includes('All');
  return url.searchParams.get('dryRun') === 'All' || fromBody;
}

function deleteOptions(url: URL, raw: string): DeleteOptions {
  const body = raw.trim() ? parseObjectBody(raw, 'application/json') : {};
  const opts: DeleteOptions = { dryRun: dryRun(url, body) };
  const policy =
    url.searchParams.get('propagationPolicy') ?? (isRecord(body) && body.propagationPolicy);
  if (policy === 'Background' || policy === 'Foreground' || policy === 'Orphan') {
    opts.propagationPolicy = policy;
  } else if (policy) {
    throw badRequest(`invalid propagationPolicy: ${String(policy)}`);
  }
  if (isRecord(body) && isRecord(body.preconditions)) {
    opts.preconditions = body.preconditions as DeleteOptions['preconditions'];
  }
  return opts;
}

function successStatus(type: ResourceType, obj: KubeObject): object {
  const details: Record<string, string> = { name: obj.metadata.name ?? '', kind: type.plural };
  if (type.group) details.group = type.group;
  if (obj.metadata.uid) details.uid = obj.metadata.uid;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

export function createRequestHandler(deps: ServerDeps) {
  const { verbs, registry, hub, faults } = deps;

  const list = (url: URL, t: Target): object => {
    const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector'), t.type.plural);
    const rv = String(verbs.store.currentRv());
    const items = verbs.store
      .list(storageKey(t.type), t.namespace)
      .filter((o) => labels(o) && fields(o))
      // Built-in lists carry no apiVersion/kind per item; custom resource lists do.
      .map((o) =>
        t.type.custom ? render(t.type, o) : { ...o, apiVersion: undefined, kind: undefined },
      );
    return {
      apiVersion: apiVersionOf(t.type),
      kind: `${t.type.kind}List`,
      metadata: { resourceVersion: rv },
      items,
    };
  };

  const watch = (url: URL, t: Target, res: ServerResponse) => {
    const timeout = url.searchParams.get('timeoutSeconds');
    hub.open(
      {
        type: t.type,
        namespace: t.namespace,
        labels: parseLabelSelector(url.searchParams.get('labelSelector')),
        fields: parseFieldSelector(url.searchParams.get('fieldSelector'), t.type.plural),
        resourceVersion: url.searchParams.get('resourceVersion') || undefined,
        allowBookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
        timeoutSeconds: timeout ? Number(timeout) : undefined,
        initial: () => verbs.store.list(storageKey(t.type), t.namespace),
      },
      res,
    );
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, url: URL, t: Target) => {
    const { type, namespace, name, subresource } = t;
    const method = req.method ?? 'GET';
    if (method === 'GET') {
      if (name) return send(res, 200, render(type, verbs.get(type, namespace, name)));
      if (isWatch(url, t)) return watch(url, t, res);
      return send(res, 200, list(url, t));
    }
    // Writes to a namespaced resource name their namespace; the cluster-wide path is read-only.
    if (type.namespaced && namespace === undefined) throw methodNotAllowed(method);
    const raw = await readBody(req);
    const contentType = req.headers['content-type'];
    if (method === 'POST' && !name) {
      const body = parseObjectBody(raw, contentType);
      const created = verbs.create(type, namespace, body, { dryRun: dryRun(url) });
      return send(res, 201, render(type, created));
    }
    if (method === 'PUT' && name) {
      const body = parseObjectBody(raw, contentType);
      const r = verbs.replace(type, namespace, name, body, subresource, { dryRun: dryRun(url) });
      return send(res, r.created ? 201 : 200, render(type, r.object));
    }
    if (method === 'PATCH' && name) {
      const kind = patchKindOf(contentType);
      const patch = parsePatchBody(kind, raw);
      const r = verbs.patch(type, namespace, name, kind, patch, subresource, {
        dryRun: dryRun(url),
        fieldManager: url.searchParams.get('fieldManager') ?? undefined,
        force: url.searchParams.get('force') === 'true',
      });
      return send(res, r.created ? 201 : 200, render(type, r.object));
    }
    if (method === 'DELETE' && name && !subresource) {
      const r = verbs.remove(type, namespace, name, deleteOptions(url, raw));
      const asObject = !r.deleted || type.custom || type.plural === 'pods';
      return send(res, 200, asObject ? render(type, r.object) : successStatus(type, r.object));
    }
    if (method === 'DELETE' && !name) {
      const opts = deleteOptions(url, raw);
      const listed = list(url, t) as { items: KubeObject[] };
      for (const o of listed.items)
        verbs.remove(type, o.metadata.namespace, o.metadata.name!, opts);
      return send(res, 200, list(url, t));
    }
    throw methodNotAllowed(method);
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? '/', 'http://standin');
      const parts = url.pathname.split('/').filter(Boolean);
      if (deps.token && req.headers.authorization !== `Bearer ${deps.token}`) throw unauthorized();
      if (['healthz', 'readyz', 'livez'].includes(parts[0] ?? '')) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return void res.end('ok');
      }
      const watchParam = url.searchParams.get('watch');
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const info: RequestInfo = {
        method: req.method ?? 'GET',
        path: url.pathname,
        watch: watchParam === 'true' || watchParam === '1' || parts.includes('watch'),
        ...(bearer ? { user: bearer } : {}),
      };
      deps.onRequest?.(info);
      const failure = faults.failureFor(info);
      if (failure !== undefined) throw injectedFailure(failure);
      const doc = discovery(registry, parts);
      if (doc !== undefined) return send(res, 200, doc);
      await serve(req, res, url, resolveTarget(registry, parts));
    } catch (err) {
      const e = toKubeStatusError(err);
      if (res.headersSent) res.destroy(e);
      else send(res, e.status, e.toStatus());
    }
  };
}
