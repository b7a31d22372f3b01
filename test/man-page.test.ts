// dist/man/h2k.1 (written by `npm run build`) renders without warnings and documents every
// command and exit code from the same definitions as --help.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { buildProgram } from '../src/cli/main.js';
import { allCommands, commandSpec } from '../src/cli/command-spec.js';
import { repoRoot } from './helpers/cli.js';

const manFile = join(repoRoot, 'dist', 'man', 'h2k.1');

function render(): { text: string; warnings: string } {
  const r = spawnSync('man', ['--warnings', '-l', manFile], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' } });
  expect(r.status).toBe(0);
  // man pipes through col/less; strip overstrike in case a pager-less terminal keeps it
  return { text: r.stdout.replace(/.\x08/g, ''), warnings: r.stderr };
}

describe('man page', () => {
  it('is listed in package.json "man"', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { man: string[] };
    expect(pkg.man).toEqual(['dist/man/h2k.1']);
  });

  it('renders without warnings and documents every command, option and exit code', async () => {
    const { text, warnings } = render();
    expect(warnings).toBe('');
    const groff = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', manFile], { encoding: 'utf8' });
    expect(groff.stderr).toBe('');
    const flat = text.replace(/\u2010\n\s*/g, '').replace(/\s+/g, ' ');
    for (const spec of allCommands(commandSpec(await buildProgram([], true))).slice(1)) {
      expect(flat).toContain(spec.usage);
      for (const o of spec.options) expect(flat).toContain(o.flags);
    }
    for (const code of Object.values(EXIT)) expect(text).toMatch(new RegExp(`^ {7}${code} `, 'm'));
    for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'EXIT STATUS', 'FILES', 'EXAMPLES']) {
      expect(text).toMatch(new RegExp(`^${section}$`, 'm'));
    }
  });
});
