#!/usr/bin/env node
// npm "prepack" guard: a package is made only from a build that matches the sources. Without it
// `npm pack` after a source change (and no `npm run build`) ships the old dist/ or addon, and
// the installed h2k runs code nobody sees in the tree. Checks, it never builds: a build here
// would rewrite dist/ under whatever is running from it (the test suite packs mid-run).
//   node scripts/check-built.js [root]        exit 0, or 1 naming the stale or missing files
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..');

function* files(dir, ext) {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p, ext);
    else if (ext.some((x) => e.name.endsWith(x))) yield p;
  }
}
const mtime = (p) => statSync(p).mtimeMs;

const problems = [];
for (const ts of files(join(root, 'src'), ['.ts'])) {
  if (ts.endsWith('.d.ts')) continue;
  const js = join(root, 'dist', relative(join(root, 'src'), ts)).replace(/\.ts$/, '.js');
  if (!existsSync(js)) problems.push(`${relative(root, js)} missing (from ${relative(root, ts)})`);
  else if (mtime(js) < mtime(ts)) problems.push(`${relative(root, js)} is older than ${relative(root, ts)}`);
}
const man = join(root, 'dist', 'man', 'h2k.1');
const cli = join(root, 'dist', 'cli', 'command-spec.js');
if (!existsSync(man)) problems.push('dist/man/h2k.1 missing');
else if (existsSync(cli) && mtime(man) < mtime(cli)) problems.push('dist/man/h2k.1 is older than dist/cli/command-spec.js');
const addon = join(root, 'build', 'Release', 'h2k_native.node');
if (!existsSync(addon)) problems.push('build/Release/h2k_native.node missing');
else {
  for (const src of files(join(root, 'native', 'src'), ['.cpp', '.hpp', '.h', '.c'])) {
    if (mtime(src) > mtime(addon)) {
      problems.push(`build/Release/h2k_native.node is older than ${relative(root, src)}`);
      break;
    }
  }
}

if (problems.length) {
  console.error(`h2k: not packing a stale build (E_STALE_BUILD):\n  ${problems.slice(0, 10).join('\n  ')}${problems.length > 10 ? `\n  ... and ${problems.length - 10} more` : ''}\nRun \`npm run build\`, then pack again.`);
  process.exit(1);
}
