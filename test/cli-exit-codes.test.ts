// One table of exit codes in code (src/cli/exit-codes.ts): README's table and the man page list
// the same codes, and the error codes map onto them as documented.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from '../src/cli/exit-codes.js';
import { repoRoot } from './helpers/cli.js';

describe('exit codes', () => {
  it("README's table and the man page list exactly the codes of EXIT", () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Exit codes'), readme.indexOf('\n## ', readme.indexOf('## Exit codes') + 1));
    const documented = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    const codes = Object.values(EXIT).sort((a, b) => a - b);
    expect(documented).toEqual(codes);
    const man = readFileSync(join(repoRoot, 'dist', 'man', 'h2k.1'), 'utf8');
    const exitStatus = man.slice(man.indexOf('.SH EXIT STATUS'), man.indexOf('.SH ENVIRONMENT'));
    expect([...exitStatus.matchAll(/^\.B (\d+)$/gm)].map((m) => Number(m[1])).sort((a, b) => a - b)).toEqual(codes);
  });

  it('usage and configuration errors are 2, no daemon is 69 (EX_UNAVAILABLE)', () => {
    for (const code of ['E_USAGE', 'E_INVALID_ARGUMENT', 'E_CONFIG']) expect(exitCodeFor(code)).toBe(2);
    expect(exitCodeFor('E_NO_DAEMON')).toBe(69);
    expect(EXIT.USAGE).toBe(2);
    expect(EXIT.NO_DAEMON).toBe(69);
  });
});
