// hashFile / hashContent: hashing jobs run in the Piscina pool so the event loop never blocks;
// the native side reads ahead on its own thread with large buffers.
import { resolve } from 'node:path';
import { runTask } from '../pool/pool.js';
import { H2kError } from '../util/errors.js';
import type { NativeHashOptions, NativeHashProgress, NativeHashResult } from '../native/hash-api.js';
import type { HashTaskPayload } from '../pool/tasks/hash-task.js';
import { HASH_ALGORITHMS, parseHashAlgorithm, type HashAlgorithm } from './algorithms.js';

export type HashDigests = Partial<Record<HashAlgorithm, string>>;
export type HashResult = NativeHashResult;

export interface HashJobOptions {
  signal?: AbortSignal;
  onProgress?: (p: NativeHashProgress) => void;
  /** Native read buffer size and count (memory = size * count). */
  bufferSize?: number;
  bufferCount?: number;
  /** Content hashes only: see OpenOptions of the image readers. */
  allowExternalPaths?: boolean;
  format?: string;
  /** Content hashes only: the image was named by an untrusted file; open it beneath this directory. */
  sourceRoot?: string;
}

/**
 * Runs one hash job ('file': the bytes of the file, or of several files as one stream;
 * 'content': the guest-visible disk).
 */
export async function runHashJob(
  mode: 'file' | 'content',
  path: string | readonly string[],
  algorithms: readonly HashAlgorithm[],
  options: HashJobOptions = {},
): Promise<HashResult> {
  const algos = [...new Set(algorithms.map(parseHashAlgorithm))];
  if (algos.length === 0) throw new H2kError('no hash algorithm given', { code: 'E_INVALID_ARGUMENT', hint: `use -a ${HASH_ALGORITHMS.join('|')}` });
  if (options.signal?.aborted) throw new H2kError('hashing cancelled', { code: 'E_CANCELLED' });
  const native: NativeHashOptions = {};
  if (options.bufferSize !== undefined) native.bufferSize = options.bufferSize;
  if (options.bufferCount !== undefined) native.bufferCount = options.bufferCount;
  if (options.allowExternalPaths !== undefined) native.allowExternalPaths = options.allowExternalPaths;
  if (options.format !== undefined) native.format = options.format;
  if (options.sourceRoot !== undefined) native.sourceRoot = resolve(options.sourceRoot);
  // '-' is standard input, read natively from fd 0 (shared by every thread of the process).
  if (typeof path !== 'string' && (mode !== 'file' || path.length === 0))
    throw new H2kError('several paths are hashed together only as files', { code: 'E_INVALID_ARGUMENT' });
  const abs = (p: string) => (p === '-' ? '-' : resolve(p));
  const payload: HashTaskPayload = { mode, path: typeof path === 'string' ? abs(path) : path.map(abs), algorithms: algos, options: native };
  const onProgress = options.onProgress;
  return runTask<HashResult>(
    { kind: 'hash', ...payload },
    { signal: options.signal, onProgress: onProgress && ((p) => onProgress({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal })) },
  );
}

/** Hash of the file's bytes, as md5sum / sha*sum / b2sum / xxhsum compute it (several files: of their concatenation). */
export async function hashFile(path: string | readonly string[], algorithms: readonly HashAlgorithm[], options: HashJobOptions = {}): Promise<HashDigests> {
  return (await runHashJob('file', path, algorithms, options)).digests;
}

/** Hash of the guest-visible disk content: equal for the same disk in any container format. */
export async function hashContent(path: string, algorithms: readonly HashAlgorithm[], options: HashJobOptions = {}): Promise<HashDigests> {
  return (await runHashJob('content', path, algorithms, options)).digests;
}
