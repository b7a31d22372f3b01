// `h2k completion bash|zsh` scripts: valid shell, and bash completes the words the command
// definitions declare (driven through the real completion function in a bash subprocess).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';

const hasZsh = spawnSync('zsh', ['--version']).status === 0;

async function script(shell: string): Promise<string> {
  const r = await runH2k(['completion', shell]);
  expect(r.code).toBe(0);
  return r.stdout;
}

/** What bash's _h2k offers for the command line `words` (the last word is being completed). */
function complete(scriptFile: string, words: string[], cwd?: string): string[] {
  const driver = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _h2k; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync('bash', ['-c', driver, 'drive', scriptFile, ...words], { encoding: 'utf8', cwd });
  return out.split('\n').filter(Boolean).sort();
}

describe('h2k completion', () => {
  it('bash: valid script, registered for h2k, completes commands, options, subcommands and files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h2k-completion-'));
    const file = join(dir, 'h2k.bash');
    writeFileSync(file, await script('bash'));
    expect(spawnSync('bash', ['-n', file]).status).toBe(0);
    expect(execFileSync('bash', ['-c', 'source "$1"; complete -p h2k', 'x', file], { encoding: 'utf8' }).trim()).toBe('complete -F _h2k h2k');

    expect(complete(file, ['h2k', 'con'])).toEqual(['convert']);
    expect(complete(file, ['h2k', 'c'])).toEqual(['check', 'completion', 'convert', 'ctl']);
    expect(complete(file, ['h2k', 'convert', '--out'])).toEqual(['--output', '--output-format']);
    expect(complete(file, ['h2k', 'manifest', ''])).toEqual(['run', 'validate']);
    expect(complete(file, ['h2k', 'ctl', 'st'])).toEqual(['stats', 'status', 'stop']);
    expect(complete(file, ['h2k', 'dedup', ''])).toEqual(['check', 'forget', 'list', 'purge']);
    // The value of --db is not a command word: `dedup check` options are still offered after it.
    expect(complete(file, ['h2k', 'dedup', 'check', '--db', 'x.db', '--j'])).toEqual(['--jobs', '--json']);
    expect(complete(file, ['h2k', 'completion', ''])).toEqual(['bash', 'zsh']);

    writeFileSync(join(dir, 'disk.vmdk'), '');
    writeFileSync(join(dir, 'disk.vdi'), '');
    expect(complete(file, ['h2k', 'info', 'disk.vm'], dir)).toEqual(['disk.vmdk']);
    expect(complete(file, ['h2k', 'convert', '-o', 'disk.v'], dir)).toEqual(['disk.vdi', 'disk.vmdk']);
  });

  it('lists every command the --help index lists', async () => {
    const { COMMAND_INDEX } = await import('../src/cli/command-index.js');
    const text = await script('bash');
    const top = /^ {4}''\) echo '([^']*)' ;;$/m.exec(text)?.[1].split(' ');
    expect(top?.sort()).toEqual(Object.keys(COMMAND_INDEX).sort());
  });

  it.skipIf(!hasZsh)('zsh: valid script that registers _h2k for h2k', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'h2k-completion-')), '_h2k');
    writeFileSync(file, await script('zsh'));
    expect(spawnSync('zsh', ['-n', file]).status).toBe(0);
    const r = spawnSync('zsh', ['-f', '-c', 'source "$1"; print -r -- ${_comps[h2k]}', 'x', file], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('_bash_complete -F _h2k');
  });

  it('rejects other shells with a usage error', async () => {
    const r = await runH2k(['completion', 'fish']);
    expect(r.code).toBe(2);
  });
});
