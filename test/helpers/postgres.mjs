// A throwaway PostgreSQL server for one test run: initdb + pg_ctl from Debian's postgresql-15
// (scripts/setup-system.sh), data and unix socket in a temporary directory, no TCP listener (so
// no port clashes between parallel runs), password authentication so that URLs carry a secret.
// initdb refuses to run as root: as root the server runs as the `postgres` system user.
// Plain JS: test/pg-queue.test.ts and bench/cluster.js both use it.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
export const PG_BIN = '/usr/lib/postgresql/15/bin';
const PORT = 5432; // only names the socket file (.s.PGSQL.5432) inside our own directory
export const PG_USER = 'h2k';
export const PG_PASSWORD = 'S3cret-pa55:word';

/**
 * @typedef {object} PgServer
 * @property {string} dir
 * @property {(db?: string, password?: string) => string} url  postgres:// URL of a database over the unix socket, with the password
 * @property {(name: string) => Promise<string>} createDatabase  creates an empty database and returns its URL
 * @property {(mode?: 'fast' | 'immediate') => Promise<void>} stop
 * @property {() => Promise<void>} start
 * @property {() => Promise<void>} destroy
 * @property {(signal: 'SIGSTOP' | 'SIGCONT') => void} signalAll  freezes or thaws the server and all its processes (a host cut off without a reset)
 * @property {() => number} serverCpuSeconds  CPU time of the server's processes that have exited (the postmaster's reaped children) plus its own
 */

const asRoot = process.getuid?.() === 0;
/** argv run as the server's owner: the current user, or `postgres` when we are root. */
function owner(cmd, args) {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}
async function pgTool(tool, args) {
  const [cmd, argv] = owner(join(PG_BIN, tool), args);
  try {
    const { stdout } = await run(cmd, argv, { cwd: '/', maxBuffer: 1 << 20 });
    return stdout;
  } catch (err) {
    throw new Error(`${tool} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** @returns {Promise<PgServer>} */
export async function startPostgres() {
  if (!existsSync(join(PG_BIN, 'initdb')))
    throw new Error(`${PG_BIN}/initdb is missing: install PostgreSQL 15 with scripts/setup-system.sh (Debian package postgresql-15)`);
  const dir = mkdtempSync(join(tmpdir(), 'h2k-pg-'));
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${PG_PASSWORD}\n`, { mode: 0o600 });
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const uid = Number(stdout.trim());
    const { stdout: g } = await run('id', ['-g', 'postgres']);
    chownSync(dir, uid, Number(g.trim()));
    chownSync(pwfile, uid, Number(g.trim()));
  }
  await pgTool('initdb', ['-D', data, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  rmSync(pwfile);
  const opts = `-c listen_addresses='' -c unix_socket_directories='${dir}' -c port=${PORT} -c fsync=off -c max_connections=200`;
  const start = () => pgTool('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']).then(() => undefined);
  await start();

  const url = (db = 'postgres', password = PG_PASSWORD) =>
    `postgres://${PG_USER}:${encodeURIComponent(password)}@${encodeURIComponent(dir)}:${PORT}/${db}`;
  let stopped = false;
  return {
    dir,
    url,
    signalAll(signal) {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const children = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return Number(readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]) === pid;
          } catch {
            return false; // exited meanwhile
          }
        });
      for (const p of [pid, ...children.map(Number)]) process.kill(p, signal);
    },
    serverCpuSeconds() {
      const pid = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0];
      // /proc/PID/stat fields 14-17: utime stime cutime cstime, in clock ticks (100 per second on Linux)
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      return f.slice(11, 15).reduce((s, t) => s + Number(t), 0) / 100;
    },
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop(mode = 'fast') {
      await pgTool('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
      stopped = true;
    },
    async start() {
      await start();
      stopped = false;
    },
    async destroy() {
      if (!stopped) await pgTool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
