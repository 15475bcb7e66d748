/**
 * Metric names and their label sets. Labels are bounded: pool, IP, rate policy, listener,
 * reason or reply class — never a recipient domain or address.
 */
export const METRICS = {
  // ingress
  ingressSessions: 'hikyaku_ingress_sessions_total',
  ingressActiveSessions: 'hikyaku_ingress_active_sessions',
  ingressAccepted: 'hikyaku_ingress_messages_accepted_total',
  ingressRefused: 'hikyaku_ingress_messages_refused_total',
  ingressAcceptLatency: 'hikyaku_ingress_accept_latency_seconds',
  ingressMessageSize: 'hikyaku_ingress_message_size_bytes',
  ingressAuth: 'hikyaku_ingress_auth_total',
  // scheduler
  schedulerScheduled: 'hikyaku_scheduler_jobs_scheduled_total',
  schedulerDeferred: 'hikyaku_scheduler_deferrals_total',
  schedulerOutcomes: 'hikyaku_scheduler_outcomes_total',
  schedulerQueueDepth: 'hikyaku_scheduler_queue_depth',
  schedulerOldestAge: 'hikyaku_scheduler_queue_oldest_age_seconds',
  // sender
  senderAttempts: 'hikyaku_sender_attempts_total',
  senderOutcomes: 'hikyaku_sender_recipient_outcomes_total',
  senderTransactionLatency: 'hikyaku_sender_transaction_seconds',
  senderOpenConnections: 'hikyaku_sender_open_connections',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];
