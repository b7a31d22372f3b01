// `h2k --help` / `--version` register commands from a static index instead of importing every
// command module; the index must say exactly what the real commands register.
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';
import { COMMAND_INDEX } from '../src/cli/command-index.js';
import { runH2k } from './helpers/cli.js';

describe('h2k top-level help', () => {
  it('the index matches every registered command (name, arguments, description)', async () => {
    const program = await buildProgram([], true);
    const real = Object.fromEntries(
      program.commands.map((c) => [c.name(), { args: c.registeredArguments.map((a) => (a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`)).join(' '), description: c.description() }]),
    );
    expect(real).toEqual(COMMAND_INDEX);
  });

  it('--help lists every command, --version prints the package version, unknown commands exit 2', async () => {
    const help = await runH2k(['--help']);
    expect(help.code).toBe(0);
    for (const name of Object.keys(COMMAND_INDEX)) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    const v = await runH2k(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = await runH2k(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown command 'frobnicate'/);
    const sub = await runH2k(['help', 'convert']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/--verify/);
  });
});
