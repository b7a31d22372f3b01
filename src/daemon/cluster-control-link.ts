// The cluster's asks (`h2k ctl --queue-url URL pause|resume|drain [--host NAME]`) reaching one
// host's job source, watch folder or manifests alike: an ask that arrives before the source has
// started waits (a host started while the cluster is paused starts paused, before anything can
// claim); later asks are done as the control socket's own commands; every change of the host's run
// state is reported back to the database for `ctl status`.
import type { PgJobQueue } from './queue/pg-queue.js';
import type { DesiredState } from './queue/pg-control.js';
import type { Scheduler } from './scheduler.js';
import type { Logger } from '../service/logger.js';
import type { RunState, ServiceContext } from '../service/job-source.js';

export class ClusterControlLink {
  private pending?: DesiredState;
  private command?: ServiceContext['command'];

  constructor(private readonly log: Logger) {}

  /** openClusterParts' onDesired */
  readonly onDesired = (desired: DesiredState): void => {
    if (!this.command) {
      this.pending = desired;
      return;
    }
    this.pending = undefined;
    this.command(desired === 'draining' ? 'drain' : desired === 'paused' ? 'pause' : 'resume', 'cluster control');
  };

  /** Once the scheduler exists, before its first claim. */
  startPausedIfAsked(scheduler: Scheduler): void {
    if (this.pending !== 'paused') return;
    scheduler.pause();
    this.log.info('daemon_paused', 'Daemon paused: the cluster is paused (h2k ctl --queue-url URL resume)', { by: 'cluster control' });
  }

  /** The source has started: what the cluster asked meanwhile is done now. */
  started(ctx: ServiceContext, scheduler: Scheduler): void {
    this.command = ctx.command;
    const pending = this.pending;
    if (pending && pending !== (scheduler.isPaused ? 'paused' : 'running')) this.onDesired(pending);
  }

  report(queue: PgJobQueue, state: RunState): void {
    queue.reportState(state).catch((err: Error) => this.log.warn('queue_connection_error', err.message));
  }
}
