/** The operator's public surface: the factory, its configuration, the access table. */
export { ACCESS, type AccessRule, requestAccess, type Verb } from './access.ts';
export { type OperatorConfig, readOperatorConfig } from './config.ts';
export { SENDER_SELECTOR } from './desired/labels.ts';
export { REASONS, type Reason } from './errors.ts';
export { loadKubeConfig, removePoolsCommand, runOperator } from './main.ts';
export { createOperator, type Operator, type OperatorDeps } from './operator.ts';
export { FINALIZER } from './reconcile.ts';
export {
  type RemovePoolsResult,
  readRemovePoolsConfig,
  removePools,
} from './remove-pools.ts';
