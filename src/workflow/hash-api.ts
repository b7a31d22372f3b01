// Content hashing of an image through the native reader (src/hash), loaded when validate needs it.
import { H2kError } from '../util/errors.js';
import { importOptional } from './optional-module.js';

export type ContentHasher = (
  path: string,
  algorithms: string[],
  options?: { signal?: AbortSignal; format?: string },
) => Promise<Record<string, string>>;

let cached: Promise<ContentHasher | undefined> | undefined;

/** Accepts the hash module's result either as {algo: hex} or wrapped ({hashes} / {contentHashes}). */
function pickHashes(value: unknown): Record<string, string> {
  const v = (value ?? {}) as Record<string, unknown>;
  const inner = (v.contentHashes ?? v.hashes ?? v) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, h] of Object.entries(inner)) if (typeof h === 'string') out[k] = h;
  return out;
}

export function loadContentHasher(): Promise<ContentHasher | undefined> {
  cached ??= importOptional('../hash/hash-file.js').then((m) => {
    const fn = m?.hashContent;
    if (typeof fn !== 'function') return undefined;
    return async (path: string, algorithms: string[], options?: { signal?: AbortSignal; format?: string }) =>
      pickHashes(await (fn as (p: string, a: string[], o?: unknown) => Promise<unknown>)(path, algorithms, options));
  });
  return cached;
}

export function hasherUnsupported(): H2kError {
  return new H2kError('validate is not supported yet: this build cannot re-read and hash an output (native content hasher missing)', {
    code: 'E_UNSUPPORTED',
    hint: 'set validate.enabled: false until content hashing ships',
  });
}
