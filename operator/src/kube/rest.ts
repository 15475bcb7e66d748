/**
 * The few REST calls the operator makes, sent with fetch and the kubeconfig's own
 * authentication and TLS settings (what client-node's Watch does for its stream). The
 * generated API classes of @kubernetes/client-node are not used: loading any one of them
 * loads them all, and their sources alone outweigh the rest of the operator in memory.
 * Bodies go out and come back as the API's JSON, as a watch delivers objects: timestamps are
 * strings.
 */
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { KubeApiError } from '../errors.ts';

export type Query = Record<string, string | undefined>;

/** How a PATCH body is to be read; the operator only sends JSON merge patches. */
export const MERGE_PATCH = 'application/merge-patch+json';

export interface Rest {
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown, contentType: typeof MERGE_PATCH): Promise<T>;
  delete<T>(path: string, body?: unknown): Promise<T>;
}

/** A path segment: names are DNS labels or subdomains, but nothing is built from raw input. */
export const seg = (value: string): string => encodeURIComponent(value);

/** The Status body of a failed call, when the server sent one. */
function statusOf(text: string): { reason?: string; message?: string } {
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    return typeof body === 'object' && body !== null ? body : {};
  } catch {
    return { message: text.slice(0, 200) };
  }
}

export function createRest(kc: KubeConfig): Rest {
  async function send<T>(
    method: HttpMethod,
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeApiError('the kubeconfig names no current cluster', 0, undefined);
    const url = new URL(cluster.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, value);
    }
    const ctx = new RequestContext(url.toString(), method);
    await kc.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    const response = await fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      dispatcher: ctx.getDispatcher(),
    });
    const text = await response.text();
    if (!response.ok) {
      const status = statusOf(text);
      throw new KubeApiError(
        status.message ?? `HTTP ${response.status}`,
        response.status,
        status.reason,
      );
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  return {
    get: (path, query) => send(HttpMethod.GET, path, { query }),
    post: (path, body) => send(HttpMethod.POST, path, { body }),
    put: (path, body) => send(HttpMethod.PUT, path, { body }),
    patch: (path, body, contentType) => send(HttpMethod.PATCH, path, { body, contentType }),
    delete: (path, body) => send(HttpMethod.DELETE, path, { body }),
  };
}
