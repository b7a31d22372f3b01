#!/usr/bin/env node
// Writes dist/man/h2k.1 from the built command definitions (run by `npm run build` after tsc).
// Exit codes come from src/cli/exit-codes.ts: the `NAME: code, // meaning` lines are their docs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildProgram, version } = await import(join(root, 'dist/cli/main.js'));
const { commandSpec } = await import(join(root, 'dist/cli/command-spec.js'));
const { manPage } = await import(join(root, 'dist/cli/man-page.js'));

const exitSource = readFileSync(join(root, 'src/cli/exit-codes.ts'), 'utf8');
const exitCodes = [...exitSource.matchAll(/^\s+([A-Z_]+): (\d+),[ \t]*(?:\/\/ (.+))?$/gm)].map(([, name, code, meaning]) => ({
  code: Number(code), name, meaning: meaning?.trim() || name.toLowerCase().replace(/_/g, ' '),
}));
if (exitCodes.length === 0) throw new Error('make-man: no exit codes found in src/cli/exit-codes.ts');

// A fixed date (the package.json mtime would vary by checkout); SOURCE_DATE_EPOCH when given.
const epoch = Number(process.env.SOURCE_DATE_EPOCH);
const date = (Number.isFinite(epoch) && epoch > 0 ? new Date(epoch * 1000) : new Date()).toISOString().slice(0, 10);

const out = join(root, 'dist/man/h2k.1');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, manPage(commandSpec(await buildProgram([], true)), version(), exitCodes, date));
console.log(`make-man: wrote ${out}`);
