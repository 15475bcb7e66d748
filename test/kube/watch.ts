/**
 * Watch streams: newline-delimited JSON events over a chunked 200 response, replayed from
 * a bounded history of changes so a client can resume from a resourceVersion. A
 * resourceVersion older than the history gets what a real server sends: an ERROR event
 * carrying a 410 Status (reason Expired), then the end of the stream — client-node's
 * ListWatch answers that by listing again.
 */
import type { ServerResponse } from 'node:http';
import { expired } from './errors.ts';
import type { KubeObject } from './object.ts';
import { apiVersionOf, type ResourceType, storageKey } from './resources.ts';
import type { Selector } from './selectors.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change; `previous` is the object before a MODIFIED. */
export interface Change {
  type: ChangeType;
  rv: number;
  key: string;
  object: KubeObject;
  previous?: KubeObject;
}

export interface WatchRequest {
  type: ResourceType;
  namespace: string | undefined;
  labels: Selector;
  fields: Selector;
  /** Absent or "0": start with ADDED events for `initial`, then live changes. */
  resourceVersion: string | undefined;
  allowBookmarks: boolean;
  timeoutSeconds: number | undefined;
  initial: () => KubeObject[];
}

interface Watcher {
  req: WatchRequest;
  res: ServerResponse;
  timers: NodeJS.Timeout[];
}

export interface WatchHubOptions {
  historyLimit: number;
  bookmarkIntervalMs: number;
  currentRv: () => number;
}

export class WatchHub {
  private history: Change[] = [];
  /** Watches must start at or after this resourceVersion; older ones are expired. */
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();

  constructor(private readonly options: WatchHubOptions) {}

  get openWatches(): number {
    return this.watchers.size;
  }

  record(change: Change): void {
    this.history.push(change);
    while (this.history.length > this.options.historyLimit) {
      this.compactedRv = this.history.shift()!.rv;
    }
    for (const w of this.watchers) this.deliver(w, change);
  }

  /** Forgets every change so far: resuming from any resourceVersion before now is a 410. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.options.currentRv();
  }

  /** Ends every open stream cleanly, as a server does at its request timeout. */
  closeAll(): void {
    for (const w of [...this.watchers]) this.finish(w);
  }

  open(req: WatchRequest, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    const w: Watcher = { req, res, timers: [] };
    const rv = req.resourceVersion;
    if (rv && rv !== '0') {
      const from = Number(rv);
      if (!Number.isFinite(from) || from < this.compactedRv) {
        const err = expired(`too old resource version: ${rv} (${this.compactedRv + 1})`);
        this.send(w, { type: 'ERROR', object: err.toStatus() });
        res.end();
        return;
      }
      this.watchers.add(w);
      for (const change of this.history) {
        if (change.rv > from) this.deliver(w, change);
      }
    } else {
      this.watchers.add(w);
      for (const obj of req.initial()) {
        if (this.matches(req, obj)) this.send(w, { type: 'ADDED', object: this.render(req, obj) });
      }
    }
    res.on('close', () => this.finish(w));
    if (req.allowBookmarks) {
      w.timers.push(setInterval(() => this.bookmark(w), this.options.bookmarkIntervalMs));
    }
    if (req.timeoutSeconds !== undefined) {
      w.timers.push(setTimeout(() => this.finish(w), req.timeoutSeconds * 1000));
    }
  }

  private finish(w: Watcher): void {
    if (!this.watchers.delete(w)) return;
    for (const t of w.timers) clearTimeout(t);
    if (!w.res.writableEnded) w.res.end();
  }

  private bookmark(w: Watcher): void {
    const object = {
      kind: w.req.type.kind,
      apiVersion: apiVersionOf(w.req.type),
      metadata: { resourceVersion: String(this.options.currentRv()) },
    };
    this.send(w, { type: 'BOOKMARK', object });
  }

  private matches(req: WatchRequest, obj: KubeObject): boolean {
    if (req.namespace !== undefined && obj.metadata.namespace !== req.namespace) return false;
    return req.labels(obj) && req.fields(obj);
  }

  private render(req: WatchRequest, obj: KubeObject): KubeObject {
    return { ...obj, apiVersion: apiVersionOf(req.type), kind: req.type.kind };
  }

  /**
   * A change seen through the watcher's selectors: an object that starts or stops
   * matching is ADDED or DELETED for this watcher, as the server's watch cache does.
   */
  private deliver(w: Watcher, change: Change): void {
    if (change.key !== storageKey(w.req.type)) return;
    const now = this.matches(w.req, change.object);
    let type: ChangeType = change.type;
    if (change.type === 'MODIFIED') {
      const before = change.previous !== undefined && this.matches(w.req, change.previous);
      if (!now && !before) return;
      if (now && !before) type = 'ADDED';
      if (!now && before) type = 'DELETED';
    } else if (!now) {
      return;
    }
    this.send(w, { type, object: this.render(w.req, change.object) });
  }

  private send(w: Watcher, event: { type: string; object: unknown }): void {
    if (!w.res.writableEnded) w.res.write(`${JSON.stringify(event)}\n`);
  }
}
