// Every key of a daemon config file is known, or the config is refused: an unknown key (a typo)
// is an error naming it and the nearest valid key, nested keys too. Known keys h2k does not act
// on, and values it refuses, come from the key table (hyper2kvm-keys.ts).
import { basename } from 'node:path';
import { H2kError } from '../util/errors.js';
import { KEY_ROWS, keyWarning } from './hyper2kvm-keys.js';
import { nearestKey } from './nearest-key.js';

/** The keys a schema accepts: its top-level keys and, per section (retry_policy...), the section's. */
export interface KnownKeys {
  top: readonly string[];
  sections: Readonly<Record<string, readonly string[]>>;
}

/** The line of a key path in the file, if known. */
export type Locate = (path: string[]) => number | undefined;

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownKeyProblem(path: string[], candidates: string[], where: string): string {
  const key = path.join('.');
  const near = nearestKey(path[path.length - 1]!, candidates);
  return `unknown key ${key}${where}; ${near ? `did you mean ${path.length > 1 ? `${path.slice(0, -1).join('.')}.` : ''}${near}?` : 'no daemon key is close to it'}`;
}

/** Values refused at start: a row's refuseIf, and contradicting pairs. */
function refusals(values: Record<string, unknown>, where: (path: string[]) => string): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const row = KEY_ROWS.get(key);
    if (row?.refuseIf?.(value)) out.push(`${key}: ${JSON.stringify(value)}${where([key])} is refused: ${row.refusal ?? row.note}`);
  }
  const { command, cmd, update_grub: updateGrub, no_grub: noGrub } = values;
  if (typeof command === 'string' && typeof cmd === 'string' && command.trim() !== cmd.trim())
    out.push(`command: ${command} and cmd: ${cmd}${where(['cmd'])} contradict each other (cmd is hyper2kvm's alias of command); keep one`);
  if (typeof updateGrub === 'boolean' && typeof noGrub === 'boolean' && updateGrub === noGrub)
    out.push(`update_grub: ${updateGrub} and no_grub: ${noGrub}${where(['no_grub'])} contradict each other; keep update_grub`);
  return out;
}

/**
 * Refuses unknown keys and refused values (E_CONFIG, exit 2, every problem in one message) and
 * returns the warnings for keys h2k accepts but does not act on.
 */
export function checkConfigKeys(values: Record<string, unknown>, known: KnownKeys, file?: string, locate: Locate = () => undefined): string[] {
  const fileName = file ? basename(file) : '';
  const topKeys = [...known.top];
  const withSections = [...topKeys, ...Object.entries(known.sections).flatMap(([s, keys]) => keys.map((k) => `${s}.${k}`))];
  const problems: string[] = [];
  const warnings: string[] = [];
  // " in daemon.yaml (line 3)"
  const where = (path: string[]) => {
    if (!fileName) return '';
    const line = locate(path);
    return ` in ${fileName}${line ? ` (line ${line})` : ''}`;
  };
  for (const [key, value] of Object.entries(values)) {
    if (!topKeys.includes(key)) {
      problems.push(unknownKeyProblem([key], withSections, where([key])));
      continue;
    }
    const row = KEY_ROWS.get(key);
    const warning = row && keyWarning(row, value);
    if (warning) warnings.push(warning);
    const sectionKeys = known.sections[key];
    if (!sectionKeys || !isMapping(value)) continue;
    for (const [sub, subValue] of Object.entries(value)) {
      if (!sectionKeys.includes(sub)) {
        problems.push(unknownKeyProblem([key, sub], [...sectionKeys], where([key, sub])));
        continue;
      }
      const subRow = KEY_ROWS.get(`${key}.${sub}`);
      const subWarning = subRow && keyWarning(subRow, subValue);
      if (subWarning) warnings.push(subWarning);
    }
  }
  problems.push(...refusals(values, where));
  if (problems.length > 0) {
    throw new H2kError(problems.join('\n  '), {
      code: 'E_CONFIG',
      file,
      hint: 'fix the key or value; examples/daemon-enhanced.yaml lists every key, and the README\'s key table what h2k does with each hyper2kvm key',
    });
  }
  return warnings;
}
