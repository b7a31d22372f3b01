// sd_notify(3) for both daemon modes: READY=1 once the control socket listens and the watch
// folder (or manifest queue) is being scanned, STATUS= with the queue, STOPPING=1 when a drain or
// stop begins, RELOADING=1 + MONOTONIC_USEC while a reload runs, and WATCHDOG=1 every half of
// $WATCHDOG_USEC. Outside systemd ($NOTIFY_SOCKET unset) every call does nothing, as sd_notify.
// The datagram goes out through the addon (Node's dgram has no AF_UNIX datagram sockets).
import type { Logger } from './logger.js';
import type { StatsSnapshot } from './stats.js';
import { loadAddon } from '../native/addon.js';

export interface SystemdNotify {
  /** true when $NOTIFY_SOCKET named a socket at start */
  readonly enabled: boolean;
  /** READY=1 (start-up done, or a reload finished), with a status line */
  ready(status?: string): void;
  /** STATUS= from the daemon's statistics; sent only when the line changes */
  status(s: StatsSnapshot): void;
  /** STOPPING=1: a drain or stop has begun */
  stopping(why: string): void;
  /** RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, as systemd requires); ready() ends it */
  reloading(): void;
  /** stops the watchdog pings (at exit) */
  close(): void;
}

/** One human line for `systemctl status`: state, queue, running, done, failed. */
export function statusLine(s: StatsSnapshot): string {
  const retry = s.retry_waiting > 0 ? `, ${s.retry_waiting} waiting to retry` : '';
  return `${s.state}: ${s.current_queue_depth} queued, ${s.in_flight} running${retry}; ${s.total_processed} done, ${s.total_failed} failed`;
}

/**
 * Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and removes them from the environment
 * (sd_notify's unset_environment), so the tools h2k runs (qemu, guestfish) never talk to systemd.
 */
export function systemdNotify(log: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotify {
  const socket = env.NOTIFY_SOCKET;
  const watchdogUsec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID;
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  if (!socket) return { enabled: false, ready() {}, status() {}, stopping() {}, reloading() {}, close() {} };

  let failed = false;
  const send = (message: string) => {
    try {
      loadAddon().notifySocketSend(socket, message);
    } catch (err) {
      // systemd gone or the socket unreachable: say so once, and keep converting
      if (!failed) log.warn('sd_notify_failed', `sd_notify to ${socket} failed: ${(err as Error).message}`, { socket });
      failed = true;
    }
  };
  let watchdog: NodeJS.Timeout | undefined;
  if (Number.isFinite(watchdogUsec) && watchdogUsec > 0 && (!watchdogPid || Number(watchdogPid) === process.pid)) {
    watchdog = setInterval(() => send('WATCHDOG=1'), Math.max(1, Math.floor(watchdogUsec / 2000)));
    watchdog.unref();
  }
  let lastStatus = '';
  const withStatus = (head: string, status?: string) => {
    if (status) lastStatus = status;
    send(status ? `${head}\nSTATUS=${status}` : head);
  };
  return {
    enabled: true,
    ready: (status) => withStatus('READY=1', status),
    status(s) {
      const line = statusLine(s);
      if (line === lastStatus) return;
      lastStatus = line;
      send(`STATUS=${line}`);
    },
    stopping: (why) => withStatus('STOPPING=1', `stopping (${why})`),
    reloading: () => withStatus(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`, 'reloading the configuration'),
    close: () => clearInterval(watchdog),
  };
}
