/**
 * What each component reads; they take no options, only the environment. Shared by
 * `hikyaku` and the operator's own bundle (bin/operator.ts), which must print the same.
 */
export const COMPONENT_USAGE = {
  ingress:
    'usage: hikyaku ingress\n\nRuns the SMTP ingress, configured from the environment (docs/ingress.md).\n',
  scheduler:
    'usage: hikyaku scheduler\n\nRuns the scheduler, configured from the environment (docs/design.md).\n',
  sender:
    'usage: hikyaku sender\n\nRuns a sender for HIKYAKU_POOL as pod HIKYAKU_POD_NAME (docs/sender.md).\n',
  operator:
    'usage: hikyaku operator\n\nRuns the Kubernetes operator, configured from the environment (docs/operator.md).\n',
} as const;
