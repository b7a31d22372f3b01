// The daemon's configuration: hyper2kvm's key names (an existing hyper2kvm daemon YAML works
// unchanged) plus a few h2k additions. Other config areas (e.g. manifest_workflow_*) extend
// daemonShape with their own keys; see extendDaemonSchema(). What h2k does with each hyper2kvm
// key is in hyper2kvm-keys.ts.
import { z } from 'zod';
import { outputFormats, watchedExtensions } from '../native/formats.js';
import { guestOutputShape, type KeysSet } from './guest-output-schema.js';
import { compatShape } from './hyper2kvm-compat-schema.js';
import type { KnownKeys } from './key-check.js';

const seconds = (min = 0) => z.number({ error: 'expected a number of seconds' }).min(min).finite();

export const retryPolicySchema = z.object({
  enabled: z.boolean().default(true),
  max_retries: z.number().int().min(0).max(100).default(3),
  /** seconds before the first retry; later retries wait retry_delay * backoff_multiplier^n */
  retry_delay: seconds().default(300),
  backoff_multiplier: z.number().min(1).max(100).default(2),
});

export const WEBHOOK_TYPES = ['slack', 'discord', 'generic'] as const;

export const notificationsSchema = z.object({
  enabled: z.boolean().default(false),
  on_success: z.boolean().default(false),
  on_failure: z.boolean().default(true),
  on_stalled: z.boolean().default(true),
  /** idle this long while the queue is not empty -> daemon_stalled (hyper2kvm: 60 min) */
  stall_threshold_minutes: z.number().positive().finite().default(60),
  webhook_url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  webhook_type: z.enum(WEBHOOK_TYPES).default('generic'),
  webhook_timeout_seconds: seconds(0.1).default(10),
  email_enabled: z.boolean().default(false),
  email_smtp_host: z.string().min(1).optional(),
  email_smtp_port: z.number().int().min(1).max(65535).default(587),
  /** implicit TLS (port 465); otherwise STARTTLS is required unless email_starttls is false */
  email_secure: z.boolean().optional(),
  email_starttls: z.boolean().default(true),
  email_tls_ca_file: z.string().min(1).optional(),
  email_tls_reject_unauthorized: z.boolean().default(true),
  email_from: z.string().min(3).optional(),
  email_to: z.union([z.string().min(3), z.array(z.string().min(3)).min(1)]).optional(),
  email_username: z.string().optional(),
  email_password: z.string().optional(),
  email_timeout_seconds: seconds(0.1).default(15),
  /** a failing webhook/mail server is retried this many times (brief backoff), then given up */
  retry_attempts: z.number().int().min(1).max(10).default(3),
  retry_delay_seconds: seconds().default(1),
});

export const LOG_FORMATS = ['human', 'json'] as const;
export const OUT_FORMATS = outputFormats();
export const COMPRESSIONS = ['none', 'zlib', 'zstd'] as const;
export const DEDUP_HASHES = ['md5', 'xxh3'] as const;
export const DEFAULT_EXTENSIONS = watchedExtensions();

/** Raw object shape, exported so other config areas can spread it into a bigger schema. */
export const daemonShape = {
  watch_dir: z.string({ error: 'watch_dir is required (directory to watch for VM disks)' }).min(1),
  output_dir: z.string({ error: 'output_dir is required (where converted disks go)' }).min(1),
  max_concurrent_jobs: z.number().int().min(1).max(64).default(3),
  file_stable_timeout: seconds().default(30),
  /** h2k: an extent-looking .vmdk no descriptor claims is processed on its own after this long */
  extent_wait_timeout: seconds().default(600),
  file_extensions: z
    .array(z.string().regex(/^\.[A-Za-z0-9]+$/, 'an extension like .vmdk'))
    .min(1)
    .default(DEFAULT_EXTENSIONS),
  retry_policy: retryPolicySchema.prefault({}),
  notifications: notificationsSchema.prefault({}),
  enable_deduplication: z.boolean().default(true),
  deduplication_use_md5: z.boolean().default(false),
  /** h2k: content hash used when deduplication_use_md5 is true; xxh3 is much faster */
  deduplication_hash: z.enum(DEDUP_HASHES).default('md5'),
  deduplication_retention_days: z.number().int().min(1).default(90),
  archive_processed: z.boolean().default(true),
  out_format: z.enum(OUT_FORMATS).default('qcow2'),
  /** hyper2kvm: compress qcow2 (zlib) */
  compress: z.boolean().default(false),
  /** h2k: explicit codec, overrides compress */
  compression: z.enum(COMPRESSIONS).optional(),
  /** h2k: compression threads per job (default: cores / max_concurrent_jobs) */
  threads: z.number().int().min(1).max(256).optional(),
  /** h2k: read every output back and compare its content with the source's (convert --verify) */
  verify_output: z.boolean().default(false),
  /** h2k: a conversion running longer than this is cancelled and retried (E_TIMEOUT); 0 = none */
  job_timeout: seconds().default(0),
  /** h2k: on SIGTERM, how long running jobs may finish before they are cancelled and requeued */
  shutdown_grace_seconds: seconds().default(120),
  /** h2k: host:port for the Prometheus endpoint, e.g. 127.0.0.1:9477 */
  metrics_listen: z
    .string()
    .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9477')
    .optional(),
  control_socket: z.string().min(1).optional(),
  /** h2k: postgres://user:password@host/db; every daemon pointed at it is one cluster (issue 21) */
  queue_url: z.string().regex(/^postgres(ql)?:\/\//, 'expected postgres://user:password@host[:port]/database').optional(),
  /** h2k: this daemon's name in the cluster (default the machine's hostname) */
  host_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, dot, dash, underscore (at most 63)').optional(),
  /** h2k: seconds a cluster job's claim lives without a heartbeat */
  lease_seconds: seconds(1).default(15),
  /** h2k: jobs running at once in the whole cluster; 0 = no limit */
  cluster_max_jobs: z.number().int().min(0).default(0),
  /** seconds between periodic stats.json writes (it is also written after every job) */
  stats_interval: seconds(0.1).default(60),
  log_format: z.enum(LOG_FORMATS).default('human'),
  log_file: z.string().min(1).optional(),
  /** hyper2kvm: 0 errors, 1 info, 2 debug, 3 trace */
  verbose: z.number().int().min(0).max(3).default(1),
  ...guestOutputShape,
  ...compatShape,
};

export const daemonConfigSchema = z.object(daemonShape);

export type DaemonConfig = z.infer<typeof daemonConfigSchema> & KeysSet;
export type RetryPolicy = DaemonConfig['retry_policy'];
export type NotificationsConfig = DaemonConfig['notifications'];

/** Sections whose keys are checked too (a typo in retry_policy is an error like one at the top). */
export const CONFIG_SECTIONS = { retry_policy: retryPolicySchema, notifications: notificationsSchema } as const;

/** The keys a config file may use: daemonShape's plus `extra` (another config area's). */
export function knownKeys(extra: Iterable<string> = []): KnownKeys {
  return {
    top: [...Object.keys(daemonShape), ...extra],
    sections: Object.fromEntries(Object.entries(CONFIG_SECTIONS).map(([name, schema]) => [name, Object.keys(schema.shape)])),
  };
}

/** Adds keys (e.g. manifest_workflow_*) to the daemon schema without touching this file. */
export function extendDaemonSchema<T extends z.ZodRawShape>(extra: T) {
  return z.object({ ...daemonShape, ...extra });
}
