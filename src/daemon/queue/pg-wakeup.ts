// Wakes a cluster daemon the moment any host makes a job claimable (enqueue, release), through
// PostgreSQL's LISTEN/NOTIFY, so idle hosts compete for new work at once instead of at their next
// poll (the poll stays: it finds expired leases and covers the time this listener is reconnecting).
// One dedicated connection, not one of the pool's: a LISTEN lives as long as its session.
import pg from 'pg';

/** The channel every enqueue/release notifies (pg_notify in the same statement, sent at commit). */
export const WAKE_CHANNEL = 'h2k_jobs';
/** The channel `h2k ctl --queue-url pause|resume|drain` notifies: hosts read their desired state at once. */
export const CONTROL_CHANNEL = 'h2k_control';
const RECONNECT_MS = 1000;

export class PgWakeup {
  private client?: pg.Client;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly onWake: () => void,
    private readonly onError: (err: unknown) => void,
    /** a cluster control command was given, for `target` (a host name, '*': every host, '': a
     * (re)connect, when commands may have been missed) */
    private readonly onControl?: (target: string) => void,
  ) {}

  /** Listens from now on; a lost connection is re-made every second until close(). */
  async start(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, keepAlive: true, application_name: 'h2k-wakeup' });
    client.on('notification', (n) => (n.channel === CONTROL_CHANNEL ? this.onControl?.(n.payload ?? '') : this.onWake()));
    client.on('error', (err) => {
      this.onError(err);
      this.reconnectLater(client);
    });
    client.on('end', () => this.reconnectLater(client));
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${WAKE_CHANNEL}`);
      if (this.onControl) await client.query(`LISTEN ${CONTROL_CHANNEL}`);
      // whatever was enqueued or commanded while we were not listening
      this.onWake();
      this.onControl?.('');
    } catch (err) {
      this.onError(err);
      this.reconnectLater(client);
    }
  }

  private reconnectLater(client: pg.Client): void {
    if (this.closed || this.client !== client || this.retryTimer) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.start();
    }, RECONNECT_MS);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
