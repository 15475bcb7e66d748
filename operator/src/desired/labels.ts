/** Labels on what the operator creates, and the selector of what it manages. */
export const MANAGED_BY = 'hikyaku-operator';
export const LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  instance: 'app.kubernetes.io/instance',
  managedBy: 'app.kubernetes.io/managed-by',
  pool: 'hikyaku.io/pool',
} as const;

/** The StatefulSets and Secrets the operator owns, for its watches. */
export const SENDER_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY},${LABELS.component}=sender`;
