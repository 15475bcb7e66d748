/**
 * The ingress' metrics. Labels stay bounded: pool (from the pool policies), listener
 * (three values), reason (the keys of smtp-errors.ts) and a few fixed results.
 */

import { METRICS } from '@hikyaku/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type AuthResult = 'success' | 'failure' | 'throttled' | 'conflict';

export function createIngressMetrics(registry: Registry) {
  const registers = [registry];
  return {
    sessions: new Counter({
      name: METRICS.ingressSessions,
      help: 'SMTP sessions opened',
      labelNames: ['listener'],
      registers,
    }),
    tlsSessions: new Counter({
      name: METRICS.ingressTlsSessions,
      help: 'SMTP sessions that negotiated TLS (implicit or STARTTLS)',
      labelNames: ['listener'],
      registers,
    }),
    active: new Gauge({
      name: METRICS.ingressActiveSessions,
      help: 'SMTP sessions open now',
      labelNames: ['listener'],
      registers,
    }),
    auth: new Counter({
      name: METRICS.ingressAuth,
      help: 'SMTP AUTH attempts, by result',
      labelNames: ['listener', 'result'],
      registers,
    }),
    accepted: new Counter({
      name: METRICS.ingressAccepted,
      help: 'Messages accepted (answered 250 after JetStream stored them)',
      labelNames: ['pool', 'listener'],
      registers,
    }),
    refused: new Counter({
      name: METRICS.ingressRefused,
      help: 'Sessions, commands or messages refused, by reason (see docs/ingress.md)',
      labelNames: ['pool', 'listener', 'reason'],
      registers,
    }),
    latency: new Histogram({
      name: METRICS.ingressAcceptLatency,
      help: 'Time from the end of DATA to the 250 reply, in seconds',
      labelNames: ['pool', 'listener'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    size: new Histogram({
      name: METRICS.ingressMessageSize,
      help: 'Size of accepted messages in bytes',
      labelNames: ['pool'],
      buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 33554432],
      registers,
    }),
    certificateReloads: new Counter({
      name: METRICS.ingressCertificateReloads,
      help: 'TLS certificate reloads after a file change, by result',
      labelNames: ['result'],
      registers,
    }),
    policyErrors: new Counter({
      name: METRICS.ingressPolicyErrors,
      help:
        'Redis lookups that failed or timed out: suppression and quota checks were skipped, ' +
        'the AUTH throttle (check="auth-throttle") counted in the process instead',
      labelNames: ['check'],
      registers,
    }),
  };
}

export type IngressMetrics = ReturnType<typeof createIngressMetrics>;
