/**
 * Metric names and their label sets. Labels are bounded: pool, IP, rate policy, listener,
 * reason or reply class — never a recipient domain or address.
 */
export const METRICS = {
  // every service that uses Redis
  redisUp: 'hikyaku_redis_up',
  // scheduler and sender (the owners of work-queue consumers): labels stream, consumer
  consumerRecreated: 'hikyaku_consumer_recreated_total',
  // ingress
  ingressSessions: 'hikyaku_ingress_sessions_total',
  ingressActiveSessions: 'hikyaku_ingress_active_sessions',
  ingressAccepted: 'hikyaku_ingress_messages_accepted_total',
  ingressRefused: 'hikyaku_ingress_messages_refused_total',
  ingressAcceptLatency: 'hikyaku_ingress_accept_latency_seconds',
  ingressMessageSize: 'hikyaku_ingress_message_size_bytes',
  ingressAuth: 'hikyaku_ingress_auth_total',
  ingressTlsSessions: 'hikyaku_ingress_tls_sessions_total',
  ingressCertificateReloads: 'hikyaku_ingress_certificate_reloads_total',
  ingressPolicyErrors: 'hikyaku_ingress_policy_lookup_errors_total',
  ingressFeedback: 'hikyaku_ingress_feedback_messages_total',
  ingressInflightBytes: 'hikyaku_ingress_inflight_bytes',
  // scheduler
  schedulerScheduled: 'hikyaku_scheduler_jobs_scheduled_total',
  schedulerDeferred: 'hikyaku_scheduler_deferrals_total',
  schedulerOutcomes: 'hikyaku_scheduler_outcomes_total',
  schedulerQueueDepth: 'hikyaku_scheduler_queue_depth',
  schedulerOldestAge: 'hikyaku_scheduler_queue_oldest_age_seconds',
  schedulerThrottleSignals: 'hikyaku_scheduler_throttle_signals_total',
  schedulerThrottleState: 'hikyaku_scheduler_throttle_destinations',
  schedulerWarmupDay: 'hikyaku_scheduler_warmup_day',
  schedulerWarmupLimit: 'hikyaku_scheduler_warmup_daily_limit',
  schedulerSentToday: 'hikyaku_scheduler_sent_today',
  schedulerWarmupSpilled: 'hikyaku_scheduler_warmup_spilled_total',
  schedulerLearnedRate: 'hikyaku_scheduler_learned_rate',
  schedulerLearnedConnections: 'hikyaku_scheduler_learned_connections',
  schedulerSuppressionsAdded: 'hikyaku_scheduler_suppressions_added_total',
  schedulerDsns: 'hikyaku_scheduler_dsns_total',
  // labels path (handoff, stream), repeat (true: recorded before, counted once)
  schedulerResults: 'hikyaku_scheduler_results_recorded_total',
  // the body purger (one scheduler at a time): label result
  schedulerBodyPurges: 'hikyaku_scheduler_body_purges_total',
  schedulerBodiesPurged: 'hikyaku_scheduler_bodies_purged_total',
  schedulerBodiesKept: 'hikyaku_scheduler_bodies_kept_total',
  // reputation guard (run by the scheduler): labels pool, ip, zone, reason, check
  ipListed: 'hikyaku_ip_listed',
  ipPaused: 'hikyaku_ip_paused',
  ipPtrMismatch: 'hikyaku_ip_ptr_mismatch',
  reputationCheckDuration: 'hikyaku_reputation_check_duration_seconds',
  reputationCheckFailures: 'hikyaku_reputation_check_failures_total',
  poolAllIpsPaused: 'hikyaku_pool_all_ips_paused',
  schedulerFeedback: 'hikyaku_scheduler_feedback_reports_total',
  schedulerComplaints: 'hikyaku_scheduler_complaints_total',
  schedulerComplaintRate: 'hikyaku_scheduler_sender_domain_complaint_rate',
  schedulerComplaintLevel: 'hikyaku_scheduler_sender_domain_complaint_level',
  schedulerSubmitterComplaintRate: 'hikyaku_scheduler_submitter_complaint_rate',
  schedulerSubmitterComplaintLevel: 'hikyaku_scheduler_submitter_complaint_level',
  // sender
  senderAttempts: 'hikyaku_sender_attempts_total',
  senderOutcomes: 'hikyaku_sender_recipient_outcomes_total',
  senderTransactionLatency: 'hikyaku_sender_transaction_seconds',
  senderOpenConnections: 'hikyaku_sender_open_connections',
  senderConnections: 'hikyaku_sender_connections_total',
  senderJobsInProgress: 'hikyaku_sender_jobs_in_progress',
  senderHandedBack: 'hikyaku_sender_jobs_handed_back_total',
  senderResultStoreFailures: 'hikyaku_sender_result_store_failures_total',
  // labels pool, outcome (handed_off, or why the result went to the stream instead)
  senderResultHandoffs: 'hikyaku_sender_result_handoffs_total',
  senderSourceIpAbsent: 'hikyaku_sender_source_ip_absent',
  senderMtaSts: 'hikyaku_sender_mta_sts_total',
  // webhooks (run by each pool's senders): labels pool, webhook, reason
  webhookBatches: 'hikyaku_webhook_batches_delivered_total',
  webhookEvents: 'hikyaku_webhook_events_delivered_total',
  webhookFailures: 'hikyaku_webhook_failures_total',
  webhookDropped: 'hikyaku_webhook_events_dropped_total',
  webhookBacklog: 'hikyaku_webhook_backlog_events',
  webhookOldestAge: 'hikyaku_webhook_oldest_event_age_seconds',
  // operator
  operatorReconciles: 'hikyaku_operator_reconcile_total',
  operatorReconcileDuration: 'hikyaku_operator_reconcile_duration_seconds',
  operatorQueueDepth: 'hikyaku_operator_queue_depth',
  operatorPoolCondition: 'hikyaku_operator_pool_condition',
  operatorIpWarmupDay: 'hikyaku_operator_ip_warmup_day',
  operatorIpDailyLimit: 'hikyaku_operator_ip_daily_limit',
  operatorIpSentToday: 'hikyaku_operator_ip_sent_today',
  operatorIsLeader: 'hikyaku_operator_is_leader',
  operatorWatchRestarts: 'hikyaku_operator_watch_restarts_total',
  operatorEventFailures: 'hikyaku_operator_event_failures_total',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];
