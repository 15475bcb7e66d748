/** The operator's public surface: the factory, its configuration, the access table. */
export { ACCESS, type AccessRule, requestAccess, type Verb } from './access.ts';
export { type OperatorConfig, readOperatorConfig } from './config.ts';
export { CILIUM_POLICY, EGRESS_ANNOTATIONS, EGRESS_LABELS } from './desired/egress.ts';
export { SENDER_SELECTOR } from './desired/labels.ts';
export { buildSenderStatefulSet } from './desired/statefulset.ts';
export { REASONS, type Reason } from './errors.ts';
export { createKubeClient } from './kube/client.ts';
export * from './kube/objects.ts';
export { loadKubeConfig, removePoolsCommand, runOperator } from './main.ts';
export { createOperator, type Operator, type OperatorDeps } from './operator.ts';
export { FINALIZER } from './reconcile.ts';
export {
  type RemovePoolsResult,
  readRemovePoolsConfig,
  removePools,
} from './remove-pools.ts';
export * from './reputation.ts';
