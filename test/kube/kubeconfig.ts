/**
 * Client configuration for the stand-in: a `KubeConfig` object for in-process clients and a
 * kubeconfig file for anything that reads `KUBECONFIG` (the operator started as a child
 * process, kubectl).
 */
import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

const NAME = 'hikyaku-standin';

export interface KubeconfigOptions {
  server: string;
  token?: string;
  namespace?: string;
}

export function kubeconfigDocument(opts: KubeconfigOptions): Record<string, unknown> {
  const context: Record<string, string> = { cluster: NAME, user: NAME };
  if (opts.namespace) context.namespace = opts.namespace;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    // client-node refuses a plain-http server unless TLS verification is marked skipped.
    clusters: [{ name: NAME, cluster: { server: opts.server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: NAME, user: opts.token ? { token: opts.token } : {} }],
    contexts: [{ name: NAME, context }],
    'current-context': NAME,
    preferences: {},
  };
}

export function makeKubeConfig(opts: KubeconfigOptions): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(stringify(kubeconfigDocument(opts)));
  return kc;
}

export async function writeKubeconfigFile(path: string, opts: KubeconfigOptions): Promise<void> {
  await writeFile(path, stringify(kubeconfigDocument(opts)), { mode: 0o600 });
}
