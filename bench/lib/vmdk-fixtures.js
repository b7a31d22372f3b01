// The seeded VMDK disks the conversion benchmarks read (bench/run.js, bench/compare-commits.js),
// built once with qemu-img and kept in bench/work, and the check of an output against its source.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MiB, repo } from './measure.js';
import { makeRng, randomBlock, textBlock } from './seeded.js';

export const work = join(repo, 'bench', 'work');
const SEED = 20261123;

/**
 * A raw disk of `sizeMiB` in 1 MiB blocks: `holesOutOf10` tenths holes, the written rest 2/5
 * text, 2/5 random, 1/5 explicit zeros (what a used guest disk holds: compressible, not, empty).
 */
function buildRaw(path, sizeMiB, holesOutOf10, seed) {
  const rng = makeRng(seed);
  const fd = openSync(path, 'w');
  let allocated = 0;
  try {
    ftruncateSync(fd, sizeMiB * MiB);
    for (let block = 0; block < sizeMiB; block++) {
      const r = rng() % 10;
      if (r < holesOutOf10) continue;
      const kind = rng() % 5;
      const data = kind < 2 ? textBlock(rng, MiB) : kind < 4 ? randomBlock(rng, MiB) : Buffer.alloc(MiB);
      writeSync(fd, data, 0, data.length, block * MiB);
      allocated += MiB;
    }
  } finally {
    closeSync(fd);
  }
  return allocated;
}

/** Seeded VMDKs, built once and kept in bench/work (stamp file keyed by the layout). */
export function fixture(id, sizeMiB, holesOutOf10, subformats) {
  mkdirSync(work, { recursive: true });
  const stamp = join(work, `fixture-${id}-${SEED}-${sizeMiB}-${holesOutOf10}.json`);
  const paths = Object.fromEntries(subformats.map((s) => [s, join(work, `${id}-${s}.vmdk`)]));
  if (!existsSync(stamp) || !Object.values(paths).every((p) => existsSync(p))) {
    console.error(`building the ${id} fixture (${sizeMiB} MiB virtual; once, cached in bench/work)...`);
    const raw = join(work, `${id}.raw`);
    const allocated = buildRaw(raw, sizeMiB, holesOutOf10, SEED + sizeMiB);
    for (const s of subformats) execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${s}`, raw, paths[s]]);
    rmSync(raw, { force: true });
    writeFileSync(stamp, JSON.stringify({ allocated }));
  }
  return { paths, sizeMiB, allocated: JSON.parse(readFileSync(stamp, 'utf8')).allocated };
}

/** Throws unless `out` holds what `src` does (qemu-img compare). */
export function verifyOutput(src, out) {
  try {
    execFileSync('qemu-img', ['compare', src, out], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`h2k output differs from its source (qemu-img compare): ${out}: ${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** The 1 GiB disk of the conversion rows, monolithicSparse and streamOptimized. */
export const gibDisks = () => fixture('gib', 1024, 5, ['monolithicSparse', 'streamOptimized']);

/** `h2k convert` of one row as a user runs it; `cli`: [node, bin/h2k.js] of the checkout timed. */
export const h2kConvertArgv = (cli, src, out, compression) =>
  [...cli, 'convert', src, '-o', out, '-O', 'qcow2', ...(compression === 'none' ? [] : ['-c', compression]), '--force', '--no-progress'];
