// `h2k daemon install-unit`: installs examples/systemd/h2k.service (or h2k@.service) with
// ExecStart naming the h2k that runs this command, and h2k.sysusers.conf for the h2k user, then
// says what to run next. The shipped files are the one source of the units' text.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../native/addon.js';
import { H2kError } from '../util/errors.js';

export interface InstallUnitOptions {
  /** h2k@.service (one instance per /etc/h2k/NAME.yaml) instead of h2k.service */
  template?: boolean;
  /** a root to install beneath instead of / (packaging, tests) */
  prefix?: string;
  force?: boolean;
}

export interface InstalledUnit {
  unit: string;
  sysusers: string;
  /** what the operator runs next, in order */
  next: string[];
  warnings: string[];
}

const EXAMPLES = join(packageRoot, 'examples', 'systemd');
/** The examples start h2k from PATH; the installed unit names this node and this h2k. */
const EXEC_FROM_PATH = '/usr/bin/env h2k ';
const HIDDEN_BY_PROTECT_HOME = /^\/(home|root|run\/user)(\/|$)/;

/** A path as one ExecStart= word: % and $ doubled (specifiers, variables), quoted when it has blanks. */
function execWord(p: string): string {
  const e = p.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"'\\]/.test(p) ? `"${e.replace(/(["\\])/g, '\\$1')}"` : e;
}

async function writeNew(path: string, text: string, force: boolean): Promise<void> {
  try {
    await writeFile(path, text, { flag: force ? 'w' : 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new H2kError(`${path} exists`, { code: 'E_OUTPUT_EXISTS', file: path, hint: 'pass --force to replace it' });
    throw err;
  }
}

export async function installUnit(opts: InstallUnitOptions = {}): Promise<InstalledUnit> {
  const root = opts.prefix ?? '/';
  const name = opts.template ? 'h2k@.service' : 'h2k.service';
  const example = await readFile(join(EXAMPLES, name), 'utf8');
  if (!example.includes(`ExecStart=${EXEC_FROM_PATH}`)) throw new H2kError(`${name}: no ExecStart=${EXEC_FROM_PATH}line to fill in`, { code: 'E_INTERNAL' });
  const h2k = join(packageRoot, 'bin', 'h2k.js');
  const unitText = example.replace(`ExecStart=${EXEC_FROM_PATH}`, `ExecStart=${execWord(process.execPath)} ${execWord(h2k)} `);

  const unitDir = join(root, 'etc', 'systemd', 'system');
  const sysusersDir = join(root, 'etc', 'sysusers.d');
  await mkdir(unitDir, { recursive: true });
  await mkdir(sysusersDir, { recursive: true });
  const unit = join(unitDir, name);
  const sysusers = join(sysusersDir, 'h2k.conf');
  await writeNew(unit, unitText, opts.force ?? false);
  await writeNew(sysusers, await readFile(join(EXAMPLES, 'h2k.sysusers.conf'), 'utf8'), true); // the same for both units

  const warnings = [process.execPath, h2k]
    .filter((p) => HIDDEN_BY_PROTECT_HOME.test(p))
    .map((p) => `${p} is below a home directory, which ProtectHome=yes hides from the service: install node and h2k system-wide (npm install -g) or set ProtectHome=read-only in a drop-in`);
  const instance = opts.template ? 'h2k@NAME' : 'h2k';
  const config = opts.template ? '/etc/h2k/NAME.yaml' : '/etc/h2k/daemon.yaml';
  const state = opts.template ? '/var/lib/h2k/NAME' : '/var/lib/h2k';
  return {
    unit,
    sysusers,
    warnings,
    next: [
      `systemd-sysusers ${sysusers}`,
      `install -d -m 0750 -g h2k /etc/h2k   # then write ${config}: watch_dir and output_dir below ${state} (others: ReadWritePaths= in \`systemctl edit ${instance}\`)`,
      'systemctl daemon-reload',
      `systemctl enable --now ${instance}`,
      `systemctl status ${instance}; h2k ctl --config ${config} status`,
    ],
  };
}
