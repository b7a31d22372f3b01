// The one conversion API every entry point (CLI, daemon, manifest workflow) uses.
import type { HashAlgorithm } from '../hash/algorithms.js';
import type { NativeConvertResult } from '../native/addon.js';

/** A format h2k writes: one of outputFormats() (src/native/formats.ts); vmdk = streamOptimized. */
export type OutputFormat = string;
export type Compression = 'none' | 'zlib' | 'zstd';

export interface ConvertRequest {
  source: string;
  output: string;
  outputFormat?: OutputFormat;       // default qcow2
  compression?: Compression;         // default none
  clusterSize?: number;              // default 65536
  threads?: number;                  // compression threads; default = cores
  force?: boolean;                   // overwrite an existing output
  allowExternalPaths?: boolean;      // allow extent paths outside the image directory
  sourceFormat?: string;             // default: detect by content
  sourceRoot?: string;               // the source was named by an untrusted file (OVF href): open it beneath this dir
  hashAlgorithms?: HashAlgorithm[];  // hash source files and output content in the same pass
  verify?: boolean;                  // read the output back and compare its content with the source's
  cache?: CacheMode;                 // default none (O_DIRECT where the file system allows it)
}

/** The output's cache mode, as qemu-img -t names them; h2k fsyncs its output in both. */
export type CacheMode = 'none' | 'writeback';
export const CACHE_MODES: readonly CacheMode[] = ['none', 'writeback'];

export interface ConvertProgress {
  bytesDone: number;
  bytesTotal: number;
  dataBytes: number;
  phase?: 'convert' | 'verify';      // verify: bytes count the output's read-back
}

type Hashes = Partial<Record<HashAlgorithm, string>>;

/** The addon's result (src/native/addon.ts), with this API's names for formats and hashes. */
export interface ConvertResult extends Omit<NativeConvertResult, 'outputFormat' | 'compression' | 'sourceHashes' | 'contentHashes' | 'sourceFiles'> {
  outputFormat: OutputFormat;
  compression: Compression;
  sourceHashes: Hashes;
  contentHashes: Hashes;
  /** With hashes: every file of the source (the file named first; VMDK extents) and its hashes. */
  sourceFiles: { path: string; hashes: Hashes; bytesReread: number }[];
}

export interface ConvertOptions {
  signal?: AbortSignal;
  onProgress?: (p: ConvertProgress) => void;
}
