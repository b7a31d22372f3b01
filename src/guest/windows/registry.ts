// Registry hives read and edited through hivex's own tools (hivexget/hivexsh to read, hivexregedit
// --merge to write): h2k never parses a hive itself. Edits are .reg text merged into a local copy.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { H2kError } from '../../util/errors.js';

/** One value to set: REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ, REG_DWORD or REG_BINARY. */
export type RegValue =
  | { type: 'sz' | 'expand_sz'; data: string }
  | { type: 'multi_sz'; data: string[] }
  | { type: 'dword'; data: number }
  | { type: 'binary'; data: Buffer };

export interface RegEdit {
  key: string;                // inside the hive, backslash-separated, no leading backslash
  name: string;               // value name; '' is the key's default value
  value: RegValue;
}

/** A registry change as the fix reports it: hive, key, value, before, after. */
export interface RegistryChange {
  hive: 'SYSTEM' | 'SOFTWARE';
  key: string;
  value: string;
  before: string | null;      // null: the value (or its key) did not exist
  after: string;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(new H2kError(`${cmd} is not installed`, { code: 'E_GUEST_TOOLS_MISSING', hint: 'install libhivex-bin (scripts/setup-system.sh does)' }));
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function hiveError(hive: string, detail: string): H2kError {
  return new H2kError(`registry hive ${hive} cannot be read: ${detail.trim().split('\n')[0]}`, {
    code: 'E_GUEST_WINDOWS_HIVE', file: hive, hint: 'the hive is truncated or corrupt; repair the guest in its hypervisor (chkdsk, a clean shutdown) and convert again',
  });
}

/** Values of one key as hivexget prints them ("name"=value, @ for the default); null when the key is missing. */
export async function readKey(hive: string, key: string): Promise<Map<string, string> | null> {
  const r = await run('hivexget', [hive, key]);
  if (r.code !== 0) {
    if (/not found/.test(r.stderr)) return null;
    throw hiveError(hive, r.stderr || r.stdout);
  }
  const values = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(@|"((?:[^"\\]|\\.)*)")=(.*)$/.exec(line);
    if (m) values.set(m[1] === '@' ? '' : m[2]!.replace(/\\(.)/g, '$1'), m[3]!);
  }
  return values;
}

/** One value as hivexget prints it (strings plain, dwords in decimal); null when key or value is missing. */
export async function readValue(hive: string, key: string, name: string): Promise<string | null> {
  const r = await run('hivexget', [hive, key, name || '@']);
  if (r.code !== 0) {
    if (/not found|no such|does not exist/i.test(r.stderr) || r.stderr.trim() === '') return null;
    throw hiveError(hive, r.stderr);
  }
  return r.stdout.replace(/\n+$/, ''); // multi-strings end with an empty line
}

/** Subkey names of a key (hivexsh ls); null when the key is missing. */
export async function listSubkeys(hive: string, key: string): Promise<string[] | null> {
  const out = await runHivexsh(hive, `cd \\${key}\nls\n`);
  if (out === null) return null;
  return out.split('\n').filter((l) => l !== '');
}

async function runHivexsh(hive: string, script: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const child = execFile('hivexsh', [hive], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(new H2kError('hivexsh is not installed', { code: 'E_GUEST_TOOLS_MISSING', hint: 'install libhivex-bin' }));
      if (/not found/.test(stderr)) return resolve(null);
      if (err || /failed to open/.test(stderr)) return reject(hiveError(hive, stderr));
      resolve(stdout);
    });
    child.stdin!.end(script);
  });
}

/** The value as hivexget prints it, for before/after in the change list. */
export function display(v: RegValue): string {
  switch (v.type) {
    case 'dword': return String(v.data);
    case 'multi_sz': return v.data.join('\n');
    case 'binary': return v.data.toString('hex');
    default: return v.data;
  }
}

function utf16hex(s: string): string {
  return [...Buffer.from(`${s}\0`, 'utf16le')].map((b) => b.toString(16).padStart(2, '0')).join(',');
}

function regLine(name: string, v: RegValue): string {
  const n = name === '' ? '@' : `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  switch (v.type) {
    case 'dword': return `${n}=dword:${(v.data >>> 0).toString(16).padStart(8, '0')}`;
    case 'sz': return `${n}=hex(1):${utf16hex(v.data)}`;
    case 'expand_sz': return `${n}=hex(2):${utf16hex(v.data)}`;
    case 'multi_sz': {
      const bytes = Buffer.concat([...v.data.map((s) => Buffer.from(`${s}\0`, 'utf16le')), Buffer.from('\0', 'utf16le')]);
      return `${n}=hex(7):${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(',')}`;
    }
    case 'binary': return `${n}=hex:${[...v.data].map((b) => b.toString(16).padStart(2, '0')).join(',')}`;
  }
}

/** .reg text for the edits: every ancestor key first (hivexregedit creates one level at a time). */
export function regText(prefix: string, edits: RegEdit[], emptyKeys: string[] = []): string {
  const sections = new Map<string, string[]>();
  const touch = (key: string) => {
    const parts = key.split('\\');
    for (let i = 1; i <= parts.length; i++) {
      const k = parts.slice(0, i).join('\\');
      if (!sections.has(k)) sections.set(k, []);
    }
  };
  for (const k of emptyKeys) touch(k);
  for (const e of edits) {
    touch(e.key);
    sections.get(e.key)!.push(regLine(e.name, e.value));
  }
  const out = ['Windows Registry Editor Version 5.00', ''];
  for (const [k, lines] of sections) out.push(`[${prefix}\\${k}]`, ...lines, '');
  return out.join('\n');
}

/** Merges the edits into a local hive file with hivexregedit (the file is changed in place). */
export async function mergeEdits(hive: string, prefix: string, edits: RegEdit[], scratchReg: string): Promise<void> {
  await writeFile(scratchReg, regText(prefix, edits));
  const r = await run('hivexregedit', ['--merge', '--prefix', prefix, hive, scratchReg]);
  if (r.code !== 0) throw new H2kError(`hivexregedit could not edit ${hive}: ${r.stderr.trim().split('\n')[0]}`, { code: 'E_GUEST_WINDOWS_HIVE', file: hive });
}
