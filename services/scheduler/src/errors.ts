/**
 * The scheduler's own failures, each with a stable code. A handler that throws one has
 * its message handed back to JetStream (nak with delay) by the consumer loop.
 */
import { HikyakuError } from '@hikyaku/core';

export const SCHEDULER_ERROR_CODES = {
  HIKYAKU_REDIS_REPLY: 'A Redis script answered something this version does not understand.',
  HIKYAKU_STATE_CONTENDED: 'A shared state kept changing under a compare-and-set.',
  HIKYAKU_HANDOFF_BUSY:
    'A scheduler has enough handed-off results waiting; the sender stores this one in HIKYAKU_RESULTS.',
  HIKYAKU_RESULT_NOT_RECORDED:
    'A handed-off result could not be recorded (NATS or Redis failed); its sender stores it in HIKYAKU_RESULTS.',
} as const;

export type SchedulerErrorCode = keyof typeof SCHEDULER_ERROR_CODES;

export class SchedulerError extends HikyakuError {
  declare readonly code: SchedulerErrorCode;

  constructor(code: SchedulerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SchedulerError';
  }
}
