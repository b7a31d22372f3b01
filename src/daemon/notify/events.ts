// The three events the daemon reports, with hyper2kvm's field names (a generic webhook receives
// exactly these objects as JSON).
export interface SuccessEvent {
  event: 'conversion_success';
  filename: string;
  duration_seconds: number;
  output_path: string;
  timestamp: string;
}

export interface FailureEvent {
  event: 'conversion_failure';
  filename: string;
  error: string;
  code?: string;
  retry_count: number;
  timestamp: string;
}

export interface StalledEvent {
  event: 'daemon_stalled';
  queue_depth: number;
  idle_minutes: number;
  last_activity: string;
  timestamp: string;
}

export type DaemonEvent = SuccessEvent | FailureEvent | StalledEvent;

/** One human sentence per event (Slack text, Discord content, mail subject). */
export function eventSummary(e: DaemonEvent): string {
  switch (e.event) {
    case 'conversion_success':
      return `h2k: converted ${e.filename} in ${e.duration_seconds.toFixed(1)}s -> ${e.output_path}`;
    case 'conversion_failure':
      return `h2k: conversion of ${e.filename} failed after ${e.retry_count} retries: ${e.error}`;
    case 'daemon_stalled':
      return `h2k: daemon stalled: ${e.queue_depth} job(s) queued, no activity for ${e.idle_minutes} min (since ${e.last_activity})`;
  }
}
