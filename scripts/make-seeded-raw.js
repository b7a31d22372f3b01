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
let state = BigInt(seedArg ?? 42) | 1n;
function nextRandom() {
  // xorshift64*: fast, deterministic, good enough for incompressible test data
  state ^= state >> 12n; state ^= (state << 25n) & 0xffffffffffffffffn; state ^= state >> 27n;
  return (state * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
}
function randomChunk(len) {
  const b = Buffer.alloc(len);
  for (let i = 0; i + 8 <= len; i += 8) b.writeBigUInt64LE(nextRandom(), i);
  return b;
}
const words = 'lorem ipsum dolor sit amet virtual machine disk grain cluster sector kernel boot fstab '.split(' ');
function textChunk(len) {
  let s = '';
  while (s.length < len) s += words[Number(nextRandom() % BigInt(words.length))] + (nextRandom() % 13n === 0n ? '\n' : ' ');
  return Buffer.from(s.slice(0, len));
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
