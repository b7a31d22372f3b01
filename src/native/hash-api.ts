// Typed view of the addon's hashing exports (native/src/binding/hash_binding.cpp).
import { loadAddon } from './addon.js';
import type { HashAlgorithm } from '../hash/algorithms.js';

export interface NativeHashProgress {
  bytesDone: number;
  /** 0 when the size is unknown (a pipe). */
  bytesTotal: number;
}

export interface NativeHashOptions {
  /** Read size per buffer (64 KiB .. 64 MiB, default 1 MiB). */
  bufferSize?: number;
  /** Buffers in flight between the read-ahead thread and the hasher (2..16, default 4). */
  bufferCount?: number;
  /** hashContent only: allow extent paths outside the image directory. */
  allowExternalPaths?: boolean;
  /** hashContent only: force the image format instead of probing. */
  format?: string;
  /** hashContent only: the image was named by an untrusted file; open it beneath this directory. */
  sourceRoot?: string;
}

export interface NativeHashResult {
  path: string;
  digests: Partial<Record<HashAlgorithm, string>>;
  /** Bytes hashed (file size, or the virtual size for content hashes). */
  bytes: number;
  /** Bytes actually read; the rest were holes or zero runs fed from a shared zero block. */
  bytesRead: number;
  seconds: number;
}

export interface NativeHashHandle {
  promise: Promise<NativeHashResult>;
  cancel(): void;
}

export interface NativeHasher {
  update(data: Uint8Array): void;
  /** Same as update(), through XXH3's block-sum path (sums computed, then folded), as the converter hashes. */
  updatePresummed(data: Uint8Array): void;
  /** Appends `length` zero bytes without materialising them (XXH3 skips long runs). */
  updateZeros(length: number): void;
  /** Finishes and resets: algo -> lowercase hex. */
  digest(): Partial<Record<HashAlgorithm, string>>;
}

interface HashExports {
  hashFile(path: string | string[], algorithms: string[], options?: NativeHashOptions, onProgress?: (p: NativeHashProgress) => void): NativeHashHandle;
  hashContent(path: string, algorithms: string[], options?: NativeHashOptions, onProgress?: (p: NativeHashProgress) => void): NativeHashHandle;
  createHasher(algorithms: string[]): NativeHasher;
  hashImplementation(): NativeHashImplementation;
}

export interface NativeHashImplementation {
  /** The XXH3 build in use: "avx512", "avx2" or "sse2" (H2K_XXH3_ISA=sse2|avx2 caps it). */
  xxh3Isa: string;
  /** Zero runs skip XXH3's per-byte work; true once its self-check against plain hashing passed. */
  xxh3ZeroRunFastPath: boolean;
  /** XXH3 block sums (computed on the conversion's worker threads, folded in order) passed their self-check. */
  xxh3BlockSums: boolean;
}

export function nativeHashImplementation(): NativeHashImplementation {
  return hashExports().hashImplementation();
}

function hashExports(): HashExports {
  return loadAddon() as unknown as HashExports;
}

/**
 * Hashes the bytes of a file (holes of sparse files are not read), or of several regular files
 * one after another as one stream (`cat a b | md5sum`). Runs off the JS thread.
 */
export function nativeHashFile(
  path: string | readonly string[],
  algorithms: readonly HashAlgorithm[],
  options: NativeHashOptions = {},
  onProgress?: (p: NativeHashProgress) => void,
): NativeHashHandle {
  return hashExports().hashFile(typeof path === 'string' ? path : [...path], [...algorithms], options, onProgress);
}

/** Hashes the guest-visible bytes of a disk image (same result for any container format). */
export function nativeHashContent(
  path: string,
  algorithms: readonly HashAlgorithm[],
  options: NativeHashOptions = {},
  onProgress?: (p: NativeHashProgress) => void,
): NativeHashHandle {
  return hashExports().hashContent(path, [...algorithms], options, onProgress);
}

/** Streaming hasher for data already in memory (update runs synchronously). */
export function createNativeHasher(algorithms: readonly HashAlgorithm[]): NativeHasher {
  return hashExports().createHasher([...algorithms]);
}
