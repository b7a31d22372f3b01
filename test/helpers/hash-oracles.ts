// Independent hash oracles: coreutils md5sum/sha*sum/b2sum, xxhsum (Debian package xxhash) and
// the xxhash-addon npm package. A missing tool throws (a test failure, never a skip).
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

export type Algo = 'md5' | 'xxh3' | 'xxh128' | 'sha256' | 'sha1' | 'sha512' | 'xxh32' | 'xxh64' | 'blake2b';

const TOOL: Record<Algo, [string, string[]]> = {
  md5: ['md5sum', []],
  sha256: ['sha256sum', []],
  sha1: ['sha1sum', []],
  sha512: ['sha512sum', []],
  xxh3: ['xxhsum', ['-H3']],
  xxh128: ['xxhsum', ['-H2']],
  xxh32: ['xxhsum', ['-H0']],
  xxh64: ['xxhsum', ['-H1']],
  blake2b: ['b2sum', []],
};

/** The digest the classic command-line tool prints for `path`. */
export function toolDigest(algo: Algo, path: string): string {
  const [cmd, args] = TOOL[algo];
  const out = execFileSync(cmd, [...args, path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 20 }).trim();
  // md5sum/sha256sum/xxhsum -H2: "<hex>  <name>"; xxhsum -H3: "XXH3 (<name>) = <hex>"
  const m = /= ([0-9a-f]+)$/.exec(out) ?? /^([0-9a-f]+) /.exec(out);
  if (!m) throw new Error(`cannot parse ${cmd} output: ${out}`);
  return m[1];
}

interface XxhashAddonHasher {
  update(b: Buffer): void;
  digest(): Buffer;
}
type XxhashCtor = new (seed: Buffer) => XxhashAddonHasher;

/** XXH3-64 / XXH3-128 of a file streamed through the xxhash-addon package (seed 0). */
export function addonDigest(algo: 'xxh3' | 'xxh128', path: string): string {
  const mod = createRequire(import.meta.url)('xxhash-addon') as { XXHash3: XxhashCtor; XXHash128: XxhashCtor };
  // Always pass a seed: the no-argument constructor crashes (docs/toolchain.md).
  const h = new (algo === 'xxh3' ? mod.XXHash3 : mod.XXHash128)(Buffer.alloc(8));
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest().toString('hex');
}
