// Seeded bytes for benchmark fixtures: the same files on every machine, built once into
// bench/work and reused. xorshift32: reproducible, not cryptography.
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const MiB = 1024 * 1024;

export function makeRng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

export function randomBlock(rng, len) {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i += 4) b.writeUInt32LE(rng(), i);
  return b;
}

const WORDS = ['disk', 'cluster', 'kernel', 'grain', 'sector', 'boot', 'qcow2', 'vmdk', 'initramfs', 'fstab', 'the', 'of', 'and', 'a'];
/** Log-like text: compresses about as well as a guest's files do. */
export function textBlock(rng, len) {
  const parts = [];
  let n = 0;
  while (n < len) {
    const line = `${rng() % 100000} ${Array.from({ length: 8 }, () => WORDS[rng() % WORDS.length]).join(' ')}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, len);
}

/** `bytes` of random data at `path` (kept when it already has that size). */
export function seededRandomFile(path, bytes, seed) {
  if (existsSync(path) && statSync(path).size === bytes) return path;
  mkdirSync(dirname(path), { recursive: true });
  const rng = makeRng(seed);
  const fd = openSync(`${path}.partial`, 'w');
  try {
    for (let off = 0; off < bytes; off += MiB) {
      const block = randomBlock(rng, Math.min(MiB, bytes - off));
      writeSync(fd, block, 0, block.length, off);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(`${path}.partial`, path);
  return path;
}
