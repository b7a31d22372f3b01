// The hash algorithms h2k supports and how the classic tools name and print them.
import { H2kError } from '../util/errors.js';

export const HASH_ALGORITHMS = ['md5', 'xxh3', 'xxh128', 'sha256', 'sha1', 'sha512', 'xxh32', 'xxh64', 'blake2b'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** Hex digest length per algorithm. */
export const DIGEST_HEX_LENGTH: Record<HashAlgorithm, number> = {
  md5: 32,
  xxh3: 16,
  xxh128: 32,
  sha256: 64,
  sha1: 40,
  sha512: 128,
  xxh32: 8,
  xxh64: 16,
  blake2b: 128,
};

/**
 * The tag BSD-style lines use, spelled as the tools print it: `MD5 (file) = ...` (md5sum --tag),
 * `XXH3 (file) = ...` (xxhsum -H3), `BLAKE2b (file) = ...` (b2sum --tag).
 */
export const BSD_TAG: Record<HashAlgorithm, string> = {
  md5: 'MD5',
  xxh3: 'XXH3',
  xxh128: 'XXH128',
  sha256: 'SHA256',
  sha1: 'SHA1',
  sha512: 'SHA512',
  xxh32: 'XXH32',
  xxh64: 'XXH64',
  blake2b: 'BLAKE2b',
};

/**
 * What an untagged line of each length can be, the likeliest first: md5sum before xxh128sum,
 * xxhsum's default XXH64 before XXH3, sha512sum before b2sum.
 */
export const CANDIDATES_BY_LENGTH: Readonly<Record<number, readonly HashAlgorithm[]>> = {
  8: ['xxh32'],
  16: ['xxh64', 'xxh3'],
  32: ['md5', 'xxh128'],
  40: ['sha1'],
  64: ['sha256'],
  128: ['sha512', 'blake2b'],
};

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
  xxh32: 'xxh32',
  xxh64: 'xxh64',
  blake2b: 'blake2b',
  'blake2b-512': 'blake2b',
  blake2b512: 'blake2b',
  b2: 'blake2b',
};

export function parseHashAlgorithm(name: string): HashAlgorithm {
  const algo = ALIASES[name.trim().toLowerCase()];
  if (!algo)
    throw new H2kError(`unknown hash algorithm '${name}'`, {
      code: 'E_INVALID_ARGUMENT',
      hint: `use one of ${HASH_ALGORITHMS.join(', ')}`,
    });
  return algo;
}

/** The algorithm of a BSD tag (`SHA256`, `SHA-256`, `BLAKE2b`, `BLAKE2b-512`, `XXH64` ...), any case. */
export function algorithmFromBsdTag(tag: string): HashAlgorithm | undefined {
  const t = tag.toUpperCase().replace(/-/g, '');
  if (t === 'BLAKE2B512') return 'blake2b'; // b2sum -l 512 --tag; other lengths are not BLAKE2b-512
  return (Object.keys(BSD_TAG) as HashAlgorithm[]).find((a) => BSD_TAG[a].toUpperCase() === t);
}
