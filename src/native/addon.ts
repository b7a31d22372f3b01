// The only file that loads the compiled addon. Everything else imports typed functions from here.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConvertProgress } from '../convert/types.js';
import type { TaskOutcome } from '../pool/task-types.js';

export interface NativeExtent {
  access: string;
  type: string;
  file: string;
  sizeBytes: number;
  fileOffset: number;
}

export interface NativeImageInfo {
  format: string;
  subformat: string;
  virtualSize: number;
  fileBytes: number;
  allocatedBytes: number;
  compression: string;
  extents: NativeExtent[];
  files: string[];
  properties: Record<string, string>;
  warnings: string[];
}

export interface NativeConvertRequest {
  source: string;
  output: string;
  outputFormat: string;
  compression: string;
  clusterSize: number;
  threads: number;
  force: boolean;
  allowExternalPaths: boolean;
  sourceFormat: string;
  /** The source was named by an untrusted file (OVF href) or dropped: open it beneath this directory. */
  sourceRoot: string;
  hashAlgorithms: string[];
  verify: boolean;
  /** qemu-img -t: none = O_DIRECT where the file system allows it, writeback = the page cache */
  cache: string;
}

export interface NativeConvertResult {
  source: string;
  output: string;
  sourceFormat: string;
  sourceSubformat: string;
  outputFormat: string;
  compression: string;
  virtualSize: number;
  dataBytes: number;
  zeroBytes: number;
  outputBytes: number;
  clustersWritten: number;
  clustersCompressed: number;
  seconds: number;
  sourceHashes: Record<string, string>;
  contentHashes: Record<string, string>;
  /** With hashes: source-file bytes read a second time for the source hash (the rest came from the conversion's own reads). */
  sourceBytesReread: number;
  sourceFiles: { path: string; hashes: Record<string, string>; bytesReread: number }[];
  /** verify: the output was read back by h2k's reader and its content matched the source's. */
  verified: boolean;
  verifySeconds: number;
}

export interface NativeConvertHandle {
  promise: Promise<NativeConvertResult>;
  cancel(): void;
}

/** One run of imageMap: data (allocated), zero (allocated, reads as zero) or hole (unallocated). */
export interface NativeMapRun {
  offset: number;
  length: number;
  kind: 'data' | 'zero' | 'hole';
}

export interface NativeImageMap {
  virtualSize: number;
  runs: NativeMapRun[];
}

export interface NativeOpenOptions {
  allowExternalPaths?: boolean;
  format?: string;
  /** OVA: skip the up-front .mf digest check of the disk (a conversion that follows checks it from its own reads). */
  deferDigestChecks?: boolean;
  /** The path was named by something untrusted: it must lie beneath this directory (native io/open_beneath). */
  sourceRoot?: string;
}

/** The addon's surface; other modules (hash, formats) extend it through their own typed views. */
export interface NativeAddon {
  /** Error codes that say nothing about a conversion's source (common/error.hpp kNotAboutTheSource). */
  codesNotAboutTheSource: string[];
  imageInfo(path: string, options?: NativeOpenOptions): Promise<NativeImageInfo>;
  detectFormat(path: string, options?: NativeOpenOptions): string;
  /** The reader's block status over the whole virtual disk, adjacent runs of one kind merged. */
  imageMap(path: string, options?: NativeOpenOptions): Promise<NativeImageMap>;
  /**
   * Opens `name` for reading beneath `dir` (no '..', absolute names, symlinks out, /proc links,
   * or non-regular files: E_PATH_ESCAPE naming `referencedFrom`). Returns a file descriptor the
   * caller must close. The one path rule of h2k (native/src/io/open_beneath.hpp).
   */
  openBeneath(dir: string, name: string, referencedFrom: string): number;
  /** The lexical half of openBeneath, for names looked up rather than opened (OVA members). */
  checkContainedName(name: string, referencedFrom: string): void;
  convert(request: NativeConvertRequest, onProgress?: (p: ConvertProgress) => void): NativeConvertHandle;
  /**
   * The conversion on the calling thread (a pool worker): progress and cancellation through
   * `shared` (src/pool/shared-progress.ts); an error comes back as data, never thrown.
   */
  convertSync(request: NativeConvertRequest, shared: BigInt64Array): TaskOutcome<NativeConvertResult>;
  /** Process-wide plain-files-only mode (io/file.hpp): read-only opens refuse links, hard links and
   * special files with E_UNSAFE_DROP. The watch-folder daemon turns it on. */
  setPlainFilesOnly(on: boolean): void;
  /** One datagram to an AF_UNIX socket path or @abstract name (sd_notify's $NOTIFY_SOCKET). */
  notifySocketSend(address: string, message: string): void;
  [key: string]: unknown;
}

const here = dirname(fileURLToPath(import.meta.url));
/** Repository / package root: dist/native -> ../.. */
export const packageRoot = resolve(here, '..', '..');

let cached: NativeAddon | undefined;

export function addonPath(): string {
  const candidates = [
    process.env.H2K_NATIVE_ADDON,
    join(packageRoot, 'build', 'Release', 'h2k_native.node'),
    join(packageRoot, 'build', 'h2k_native.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const p of candidates) if (existsSync(p)) return p;
  throw Object.assign(
    new Error(`h2k native addon not found (looked in ${candidates.join(', ')}); run \`npm run build\``),
    { code: 'E_NATIVE_MISSING' },
  );
}

export function loadAddon(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(addonPath()) as NativeAddon;
  }
  return cached;
}
