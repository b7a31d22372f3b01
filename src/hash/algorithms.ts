// The hash algorithms h2k supports and how the classic tools name and print them.
import { H2kError } from '../util/errors.js';
import type { HashAlgorithm } from '../convert/types.js';

export type { HashAlgorithm };

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['md5', 'xxh3', 'xxh128', 'sha256', 'sha1', 'sha512'];

/** Hex digest length per algorithm. */
export const DIGEST_HEX_LENGTH: Record<HashAlgorithm, number> = { md5: 32, xxh3: 16, xxh128: 32, sha256: 64, sha1: 40, sha512: 128 };

/** The tag BSD-style lines use: `MD5 (file) = ...`, `XXH3 (file) = ...` (xxhsum -H3 prints this). */
export const BSD_TAG: Record<HashAlgorithm, string> = { md5: 'MD5', xxh3: 'XXH3', xxh128: 'XXH128', sha256: 'SHA256', sha1: 'SHA1', sha512: 'SHA512' };

const ALIASES: Record<string, HashAlgorithm> = {
  md5: 'md5',
  xxh3: 'xxh3',
  'xxh3-64': 'xxh3',
  xxh3_64: 'xxh3',
  xxh128: 'xxh128',
  'xxh3-128': 'xxh128',
  xxh3_128: 'xxh128',
  sha256: 'sha256',
  'sha-256': 'sha256',
  sha1: 'sha1',
  'sha-1': 'sha1',
  sha512: 'sha512',
  'sha-512': 'sha512',
};

export function parseHashAlgorithm(name: string): HashAlgorithm {
  const algo = ALIASES[name.trim().toLowerCase()];
  if (!algo)
    throw new H2kError(`unknown hash algorithm '${name}'`, { code: 'E_INVALID_ARGUMENT', hint: 'use md5, xxh3, xxh128, sha256, sha1 or sha512' });
  return algo;
}

export function algorithmFromBsdTag(tag: string): HashAlgorithm | undefined {
  const t = tag.toUpperCase();
  return (Object.keys(BSD_TAG) as HashAlgorithm[]).find((a) => BSD_TAG[a] === t);
}
