// Watches the top level of watch_dir (chokidar) and turns complete files into jobs: each file
// must be stable first, a VMDK descriptor waits for all its extents (a loose .ovf for its disks
// and .mf), and those never become jobs of their own (unless nothing claims them for
// extent_wait_timeout). A stable image waits a short grace (ovfGraceMs) before it is queued alone,
// so an .ovf that arrives just after its disks still claims them. Entries that are not plain
// one-name files (drop-guard.ts) and .vmdk files that are no VMDK are refused at once: they go to
// .errors/ without ever being opened or followed.
import { lstat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { H2kError, toH2kError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import { checkDrop, checkExtent, memberWord, openChecked } from './drop-guard.js';
import type { Phase } from './error-context.js';
import { classifyFile, fileTypeOf, looksLikeExtentName, type FileRole } from './image-files.js';
import { isManifestPath, isOvfPath, manifestOf } from './ovf-drop.js';
import { StabilityTracker } from './file-stability.js';
import type { JobSpec } from './queue/job-queue.js';
import type { Logger } from '../service/logger.js';

/** Files turned away before they became a job; the daemon files them under .errors/. */
export interface Refusal {
  files: string[];
  error: H2kError;
  phase: Phase;
}

/** Refused names remembered so a descriptor arriving later is refused too (bounded). */
const MAX_REMEMBERED_REFUSALS = 1000;

/** Longest a stable image waits for an .ovf to claim it (the grace is file_stable_timeout, capped). */
const MAX_OVF_GRACE_MS = 10_000;

export interface WatcherOptions {
  watchDir: string;
  extensions: string[];
  stableMs: number;
  extentWaitMs: number;
  log: Logger;
  onJob: (spec: JobSpec) => void;
  onRefuse: (refusal: Refusal) => void;
  /** a wanted file appeared: its job is at least the stability wait away */
  onSeen?: () => void;
}

type Entry =
  | { state: 'tracking' }
  /** completeAt: when all its files were first stable (a split VMDK then waits the grace) */
  | { state: 'descriptor'; extents: string[]; size: number; waitingLogged: boolean; since: number; completeAt?: number }
  | { state: 'extent'; size: number; stableAt: number }
  /** a self-contained image, stable, queued alone after the grace unless an .ovf claims it */
  | { state: 'single'; size: number; stableAt: number }
  | { state: 'claimed' };

/** Stable states a descriptor's member may be in when its job is queued. */
const isSettledMember = (e: Entry | undefined): e is Extract<Entry, { size: number }> => e?.state === 'extent' || e?.state === 'single';

export class WatchFolder {
  private readonly entries = new Map<string, Entry>();
  private readonly refused = new Map<string, H2kError>();
  /** extent path -> why its descriptor was refused (an extent still settling follows it later) */
  private readonly refusedGroup = new Map<string, H2kError>();
  private readonly tracker: StabilityTracker;
  private watcher?: FSWatcher;
  private orphanTimer?: NodeJS.Timeout;
  /** one per image in its grace: images that settled together are queued together */
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private readonly root: string;
  private readonly exts: Set<string>;
  /** 0 when .ovf is not picked up: then nothing can claim a self-contained image later */
  private readonly ovfGraceMs: number;

  constructor(private readonly opts: WatcherOptions) {
    this.root = resolve(opts.watchDir);
    this.exts = new Set(opts.extensions.map((e) => e.toLowerCase()));
    this.ovfGraceMs = this.exts.has('.ovf') ? Math.min(opts.stableMs, MAX_OVF_GRACE_MS) : 0;
    const pollMs = Math.min(1000, Math.max(100, opts.stableMs / 4));
    this.tracker = new StabilityTracker({
      stableMs: opts.stableMs,
      pollMs,
      growingReportMs: 5000,
      // lstat: a link is never stat'ed through; whatever it is, onStable checks it again.
      stat: async (p) => {
        const st = await lstat(p).catch(() => undefined);
        return st && !st.isDirectory() ? { size: st.size, mtimeMs: st.mtimeMs } : undefined;
      },
      onGrowing: (p, size) =>
        opts.log.info('file_growing', `File still growing: ${basename(p)} (${formatBytes(size)})`, { file: p, size }),
      onStable: (p, size) => void this.onStable(p, size),
      onGone: (p) => this.entries.delete(p),
    });
  }

  private wanted(path: string): boolean {
    const name = basename(path);
    if (name.startsWith('.') || name.endsWith('.partial') || name.endsWith('.error.json')) return false;
    if (this.ovfGraceMs > 0 && isManifestPath(name)) return true; // waits for its .ovf, never a job
    const dot = name.lastIndexOf('.');
    return dot > 0 && this.exts.has(name.slice(dot).toLowerCase());
  }

  async start(): Promise<void> {
    const root = this.root;
    this.watcher = watch(root, {
      depth: 0,
      // Links are reported as what they are (lstat), never resolved.
      followSymlinks: false,
      ignoreInitial: false,
      persistent: true,
      // A finished file moved out and a new one of the same name copied in quickly must be
      // seen as unlink + add, not folded into one 'change'.
      atomic: false,
      // Hidden entries (.processed, .errors) and foreign files are never looked at.
      ignored: (p, st) => p !== root && (basename(p).startsWith('.') || (st?.isDirectory() ?? false)),
    });
    this.watcher.on('add', (p) => this.onSeen(p));
    this.watcher.on('change', (p) => this.onSeen(p));
    this.watcher.on('unlink', (p) => {
      this.entries.delete(p);
      this.tracker.remove(p);
    });
    this.watcher.on('error', (err) => this.opts.log.error('watch_error', `Watcher error: ${(err as Error).message}`));
    await new Promise<void>((res) => this.watcher!.once('ready', () => res()));
    this.tracker.start();
    const tick = Math.min(this.opts.extentWaitMs / 4, this.ovfGraceMs > 0 ? this.ovfGraceMs / 2 : Infinity);
    this.orphanTimer = setInterval(() => this.checkOrphans(), Math.min(5000, Math.max(100, tick)));
    this.orphanTimer.unref();
  }

  async stop(): Promise<void> {
    this.tracker.stop();
    if (this.orphanTimer) clearInterval(this.orphanTimer);
    for (const t of this.graceTimers) clearTimeout(t);
    this.graceTimers.clear();
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await w.close();
  }

  private onSeen(path: string): void {
    // A file a descriptor names is watched whatever its extension (an .ovf may name disk1.bin).
    if (dirname(path) !== this.root || !(this.wanted(path) || this.claimedByDescriptor(path))) return;
    const e = this.entries.get(path);
    if (e?.state === 'claimed') return;
    if (!e) this.opts.log.debug('file_seen', `New file: ${basename(path)}`, { file: path });
    this.opts.onSeen?.();
    if (!e) {
      // a new file under a refused name starts afresh
      this.refused.delete(path);
      this.refusedGroup.delete(path);
    }
    this.entries.set(path, { state: 'tracking' });
    this.joinOvf(path);
    void this.screen(path);
  }

  /** A .mf appearing while its .ovf waits for its disks joins that job (and is waited for too). */
  private joinOvf(path: string): void {
    if (!isManifestPath(path)) return;
    for (const [p, e] of this.entries)
      if (e.state === 'descriptor' && isOvfPath(p) && manifestOf(p) === path && !e.extents.includes(path)) e.extents.push(path);
  }

  /** Links, hard links and special files are refused as soon as they appear (lstat only). */
  private async screen(path: string): Promise<void> {
    try {
      await checkDrop(path);
    } catch (err) {
      if (this.entries.get(path)?.state !== 'tracking') return;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.entries.delete(path);
        return;
      }
      this.refuse([path], toH2kError(err), 'initialization');
      return;
    }
    if (this.entries.get(path)?.state === 'tracking') this.tracker.add(path);
  }

  private async onStable(path: string, size: number): Promise<void> {
    if (this.entries.get(path)?.state !== 'tracking') return;
    this.opts.log.info('file_stable', `File stable: ${basename(path)} (${formatBytes(size)})`, { file: path, size });
    if (isManifestPath(path) && this.ovfGraceMs > 0 && !this.refusedGroup.has(path)) {
      // never a job: waits for (or joins) its .ovf; not opened here (the job checks it)
      this.entries.set(path, { state: 'extent', size, stableAt: Date.now() });
      return this.completeGroups();
    }
    let role: FileRole;
    try {
      // Checked again: the file may have been swapped while it was settling.
      const ident = await checkDrop(path);
      role = await classifyFile(path, (p) => openChecked(p, ident));
    } catch (err) {
      if (this.entries.get(path)?.state !== 'tracking') return;
      const e = toH2kError(err);
      if (e.code === 'E_UNSAFE_DROP') return this.refuse([path], e, 'initialization');
      // Vanished or unreadable: a queued job reports the real error with full context.
      role = { kind: 'single' };
      this.opts.log.debug('classify_failed', `Cannot probe ${basename(path)}: ${e.message}`);
    }
    if (this.entries.get(path)?.state !== 'tracking') return;
    if (role.kind === 'descriptor') {
      const names = [...role.unsafeExtents, ...role.extents];
      // An .ovf's manifest is its file when it is there now (or joins later, joinOvf).
      const mf = isOvfPath(path) ? manifestOf(path) : undefined;
      if (mf && (this.entries.has(mf) || (await lstat(mf).then(() => true, () => false)))) names.push(basename(mf));
      const extents = await this.checkExtents(path, names);
      if (!extents || this.entries.get(path)?.state !== 'tracking') return;
      this.entries.set(path, { state: 'descriptor', extents, size, waitingLogged: false, since: Date.now() });
      // Files it names that the extension filter skipped are watched from now on.
      for (const x of extents) if (!this.entries.has(x)) this.onSeen(x);
      // A split VMDK named by an .ovf is one of its disks: its extents join the .ovf's job.
      if (isOvfPath(path)) for (const x of extents) this.foldInto(path, x);
      else for (const [p, e] of this.entries) if (e.state === 'descriptor' && isOvfPath(p) && e.extents.includes(path)) this.foldInto(p, path);
    } else if (this.refusedGroup.has(path)) {
      const why = this.refusedGroup.get(path)!;
      this.refusedGroup.delete(path);
      return this.refuse([path], new H2kError(`${basename(path)} is named by a refused descriptor: ${why.message}`, {
        code: why.code, file: path, hint: why.hint,
      }), 'initialization');
    } else if (role.kind === 'extent' || this.claimedByDescriptor(path) || (role.kind === 'headerless' && looksLikeExtentName(path))) {
      this.entries.set(path, { state: 'extent', size, stableAt: Date.now() });
    } else if (role.kind === 'headerless') {
      // Only files named like extents (or named by a descriptor) may wait for a descriptor.
      const what = role.size === 0 ? 'it is empty' : 'no descriptor or sparse magic';
      return this.refuse([path], new H2kError(`${basename(path)} is not a VMDK: ${what}`, {
        code: 'E_FORMAT_MISMATCH',
        file: path,
        hint: 'a flat extent must be named like <disk>-flat.vmdk and dropped with its descriptor; give other disks their own extension (.img or .raw for raw)',
      }), 'file_type_detection');
    } else if (this.ovfGraceMs > 0 && !isOvfPath(path) && fileTypeOf(path) !== 'ova') {
      // An .ovf dropped right after its disks must still find them: see checkOrphans.
      this.entries.set(path, { state: 'single', size, stableAt: Date.now() });
      this.wakeAfter(this.ovfGraceMs);
    } else {
      this.emit([path], size);
      return;
    }
    this.completeGroups();
  }

  /** A descriptor's extents as paths, each checked before anything opens it; on a bad one the
   * descriptor is refused (naming the extent), with its extents already stable, and undefined
   * is returned. */
  private async checkExtents(descriptor: string, names: string[]): Promise<string[] | undefined> {
    const paths: string[] = [];
    for (const name of names) {
      const path = join(this.root, name);
      try {
        const earlier = this.refused.get(path);
        if (earlier && name === basename(name))
          throw new H2kError(`${memberWord(descriptor)} ${name} named by ${basename(descriptor)} was refused: ${earlier.message}`, {
            code: earlier.code, file: path, hint: earlier.hint,
          });
        // A disk that settled before its .ovf arrived (and outlived the grace) is a job already.
        if (isOvfPath(descriptor) && this.entries.get(path)?.state === 'claimed')
          throw new H2kError(`${name} named by ${basename(descriptor)} was already queued as a job of its own before ${basename(descriptor)} arrived`, {
            code: 'E_DROP_ORDER',
            file: path,
            hint: `drop the .ovf first, or copy all of the appliance's files aside on the same filesystem and mv them in together; then drop ${basename(descriptor)} and its files again`,
          });
        await checkExtent(descriptor, name);
      } catch (err) {
        if (this.entries.get(descriptor)?.state === 'tracking') {
          const group = names.filter((n) => n === basename(n)).map((n) => join(this.root, n));
          this.refuseGroup(descriptor, group, toH2kError(err));
        }
        return undefined;
      }
      paths.push(path);
    }
    return paths;
  }

  /** Files the entry away (the daemon moves it to .errors/); descriptors waiting for it follow. */
  private refuse(files: string[], error: H2kError, phase: Phase): void {
    for (const f of files) {
      this.entries.set(f, { state: 'claimed' });
      this.tracker.remove(f);
      this.refused.delete(f);
      this.refused.set(f, error);
    }
    while (this.refused.size > MAX_REMEMBERED_REFUSALS) this.refused.delete(this.refused.keys().next().value!);
    this.opts.onRefuse({ files, error, phase });
    for (const [path, e] of this.entries) {
      if (e.state !== 'descriptor') continue;
      const bad = e.extents.find((x) => files.includes(x));
      if (bad)
        this.refuseGroup(path, e.extents, new H2kError(`${memberWord(path)} ${basename(bad)} named by ${basename(path)} was refused: ${error.message}`, {
          code: error.code, file: bad, hint: error.hint,
        }));
    }
  }

  /** A descriptor goes with its extents that are already stable; those still settling are
   * refused when they are (no orphan is left behind to be converted on its own). */
  private refuseGroup(descriptor: string, extents: string[], error: H2kError): void {
    const stable = extents.filter((p) => isSettledMember(this.entries.get(p)));
    for (const p of extents) if (this.entries.get(p)?.state === 'tracking') this.refusedGroup.set(p, error);
    // Named files the extension filter never watched (an .ovf's disk1.bin) follow it the same way.
    for (const p of extents)
      if (!this.entries.has(p) && dirname(p) === this.root) {
        this.refusedGroup.set(p, error);
        this.entries.set(p, { state: 'tracking' });
        void this.screen(p);
      }
    while (this.refusedGroup.size > MAX_REMEMBERED_REFUSALS) this.refusedGroup.delete(this.refusedGroup.keys().next().value!);
    this.refuse([descriptor, ...stable], error, 'initialization');
  }

  /** Makes a split VMDK's descriptor (not queued yet) a plain member of the .ovf naming it. */
  private foldInto(ovf: string, vmdk: string): void {
    const o = this.entries.get(ovf);
    const d = this.entries.get(vmdk);
    if (o?.state !== 'descriptor' || d?.state !== 'descriptor') return;
    for (const x of d.extents) if (!o.extents.includes(x)) o.extents.push(x);
    this.entries.set(vmdk, { state: 'extent', size: d.size, stableAt: Date.now() });
  }

  private claimedByDescriptor(path: string): boolean {
    for (const e of this.entries.values()) if (e.state === 'descriptor' && e.extents.includes(path)) return true;
    return false;
  }

  /** Queues every descriptor whose extents are all present and stable. */
  private completeGroups(): void {
    const now = Date.now();
    const ovfSettling = this.ovfSettling();
    for (const [path, e] of this.entries) {
      if (e.state !== 'descriptor') continue;
      const missing = e.extents.filter((x) => !isSettledMember(this.entries.get(x)));
      if (missing.length === 0) {
        // A complete split VMDK waits the grace like any image: an .ovf may still name it.
        if (this.ovfGraceMs > 0 && !isOvfPath(path)) {
          if (e.completeAt === undefined) {
            e.completeAt = now;
            this.wakeAfter(this.ovfGraceMs);
          }
          if (now - e.completeAt < this.ovfGraceMs || (ovfSettling && now - e.completeAt < this.opts.extentWaitMs)) continue;
        }
        let total = e.size;
        for (const x of e.extents) total += (this.entries.get(x) as { size: number }).size;
        this.emit([path, ...e.extents], total);
      } else if (!e.waitingLogged) {
        e.waitingLogged = true;
        this.opts.log.info('waiting_extents', `Waiting for ${memberWord(path)}s of ${basename(path)}: ${missing.map((m) => basename(m)).join(', ')}`, {
          file: path,
          missing,
        });
      }
    }
  }

  /** An .ovf still settling (or being parsed) may name any stable image: they wait for it (bounded). */
  private ovfSettling(): boolean {
    for (const [p, e] of this.entries) if (e.state === 'tracking' && isOvfPath(p)) return true;
    return false;
  }

  /** Runs the periodic checks once `ms` from now (an image's grace ends on time, not on the next tick). */
  private wakeAfter(ms: number): void {
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      this.checkOrphans();
    }, ms + 1);
    this.graceTimers.add(timer);
  }

  private checkOrphans(): void {
    const now = Date.now();
    this.refuseIncompleteOvfs(now);
    this.completeGroups();
    const ovfSettling = this.ovfSettling();
    for (const [path, e] of this.entries) {
      if ((e.state !== 'extent' && e.state !== 'single') || this.claimedByDescriptor(path)) continue;
      if (e.state === 'single') {
        if (now - e.stableAt < this.ovfGraceMs || (ovfSettling && now - e.stableAt < this.opts.extentWaitMs)) continue;
        this.emit([path], e.size);
      } else if (now - e.stableAt < this.opts.extentWaitMs) continue;
      else if (isManifestPath(path)) {
        const ovf = basename(path).replace(/\.mf$/i, '.ovf');
        this.refuse([path], new H2kError(`${basename(path)} is an OVF manifest and no ${ovf} beside it claimed it within extent_wait_timeout`, {
          code: 'E_DROP_ORDER',
          file: path,
          hint: `drop the manifest together with its .ovf and disks (the .ovf first, or move all files in at once); a .mf alone is not converted`,
        }), 'file_type_detection');
      } else {
        this.opts.log.warn('orphan_extent', `No descriptor claimed ${basename(path)}; processing it on its own`, { file: path });
        this.emit([path], e.size);
      }
    }
  }

  /** An .ovf naming a file that is still not in the folder after extent_wait_timeout is refused
   * (VMDK descriptors keep waiting, as before). A file being copied in is there: it is waited for. */
  private refuseIncompleteOvfs(now: number): void {
    for (const [path, e] of this.entries) {
      if (e.state !== 'descriptor' || !isOvfPath(path) || now - e.since < this.opts.extentWaitMs) continue;
      const absent = e.extents.filter((x) => !this.entries.has(x));
      if (absent.length === 0) continue;
      this.refuseGroup(path, e.extents, new H2kError(`${basename(path)} names ${absent.map((a) => basename(a)).join(', ')}, not in the watch folder after extent_wait_timeout (${Math.round(this.opts.extentWaitMs / 1000)}s)`, {
        code: 'E_NOT_FOUND',
        file: absent[0],
        hint: 'copy every disk file the .ovf names next to it (the .ovf first, or all files moved in together), then drop them again',
      }));
    }
  }

  private emit(files: string[], sizeBytes: number): void {
    for (const f of files) this.entries.set(f, { state: 'claimed' });
    this.opts.onJob({
      id: files[0],
      primary: files[0],
      files,
      fileType: fileTypeOf(files[0]),
      sizeBytes,
      queuedAt: new Date().toISOString(),
    });
  }

  /** Lets a path be picked up again (e.g. a job released by stop, then the file is replaced). */
  release(paths: string[]): void {
    for (const p of paths) this.entries.delete(p);
  }
}
