#!/usr/bin/env node
// Writes a seeded raw disk of <MiB> MiB with text, pseudo-random data, zero runs and holes,
// deterministic for a given seed, so fixtures and benchmarks are reproducible.
//   node scripts/make-seeded-raw.js out.raw 64 [seed]
import { openSync, writeSync, ftruncateSync, closeSync } from 'node:fs';

const [out, mibArg, seedArg] = process.argv.slice(2);
if (!out || !mibArg) {
  console.error('usage: make-seeded-raw.js <out> <MiB> [seed]');
  process.exit(64);
}
const MiB = 1024 * 1024;
const size = Math.round(Number(mibArg) * MiB);
let state = (Number(seedArg ?? 42) >>> 0) || 1;
function next() {
  // xorshift32: fast and deterministic; good enough for incompressible test data
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state;
}
function randomChunk(len) {
  const words = new Uint32Array(len / 4);
  for (let i = 0; i < words.length; i++) words[i] = next();
  return Buffer.from(words.buffer);
}
const WORDS = 'lorem ipsum dolor sit amet virtual machine disk grain cluster sector kernel boot fstab initramfs grub network'
  .split(' ')
  .map((w) => Buffer.from(w));
function textChunk(len) {
  const b = Buffer.alloc(len);
  let p = 0;
  while (p < len) {
    const r = next();
    const w = WORDS[r % WORDS.length];
    p += w.copy(b, p);
    if (p < len) b[p++] = (r >>> 8) % 13 === 0 ? 0x0a : 0x20;
  }
  return b;
}
const fd = openSync(out, 'w');
ftruncateSync(fd, size);
// Pattern per 4 MiB stripe: 1 MiB text, 512 KiB random, 512 KiB explicit zeros, 2 MiB hole.
for (let off = 0; off < size; off += 4 * MiB) {
  const put = (rel, buf) => {
    if (off + rel >= size) return;
    writeSync(fd, buf.subarray(0, Math.min(buf.length, size - off - rel)), 0, undefined, off + rel);
  };
  put(0, textChunk(MiB));
  put(MiB, randomChunk(MiB / 2));
  put(MiB + MiB / 2, Buffer.alloc(MiB / 2));
}
// A few bytes in the very last sector so the tail is data.
if (size >= 512) writeSync(fd, Buffer.from('h2k-last-sector'), 0, undefined, size - 512);
closeSync(fd);
