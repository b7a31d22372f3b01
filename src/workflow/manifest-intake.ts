// Watches to_be_processed/ and hands on each manifest once it has been unchanged for stabilityMs
// (it may still be being written). A rescan every rescanMs is the safety net under inotify (and
// on a shared folder, how a host sees manifests another host's drop made).
import { watch, type FSWatcher } from 'chokidar';
import { serialPass } from '../util/serial-pass.js';
import type { WorkflowDirs } from './workflow-dirs.js';

export interface IntakeOptions {
  dirs: WorkflowDirs;
  stabilityMs: number;
  rescanMs: number;
  /** poll instead of inotify (network filesystems) */
  usePolling?: boolean;
  /** a stable manifest in to_be_processed/; called again on every pass while it is there */
  onStable: (name: string) => Promise<void>;
  onError: (err: unknown) => void;
}

export class ManifestIntake {
  private watcher?: FSWatcher;
  private rescanTimer?: NodeJS.Timeout;
  private deferTimer?: NodeJS.Timeout;
  private open = false;

  constructor(private readonly o: IntakeOptions) {}

  async start(): Promise<void> {
    this.open = true;
    this.watcher = watch(this.o.dirs.queueDir, { depth: 0, ignoreInitial: true, usePolling: this.o.usePolling ?? false, interval: 500 });
    this.watcher.on('add', this.pass);
    this.watcher.on('change', this.pass);
    this.watcher.on('error', this.o.onError);
    await new Promise<void>((r) => this.watcher!.once('ready', () => r()));
    (this.rescanTimer = setInterval(this.pass, this.o.rescanMs)).unref();
    this.pass();
  }

  async stop(): Promise<void> {
    this.open = false;
    clearInterval(this.rescanTimer);
    clearTimeout(this.deferTimer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
  }

  readonly pass = serialPass(() => this.scan(), (err) => this.o.onError(err));

  private async scan(): Promise<void> {
    const now = Date.now();
    let youngest = Infinity;
    for (const m of await this.o.dirs.listQueued()) {
      if (!this.open) return;
      const age = now - m.mtimeMs;
      if (age >= this.o.stabilityMs) await this.o.onStable(m.name);
      else youngest = Math.min(youngest, this.o.stabilityMs - age);
    }
    if (youngest !== Infinity && this.open) {
      clearTimeout(this.deferTimer);
      this.deferTimer = setTimeout(this.pass, youngest + 50);
    }
  }
}
