// Loads a daemon config from YAML or JSON, lays CLI flags over it and validates it, with
// errors that point at the file, line and key ("daemon.yaml:12:3: retry_policy.max_retries: ...").
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { H2kError } from '../util/errors.js';
import { CONFIG_SECTIONS, daemonConfigSchema, knownKeys } from './daemon-schema.js';
import type { DaemonConfig } from './daemon-schema.js';
import { checkConfigKeys } from './key-check.js';
import type { KeysSet } from './guest-output-schema.js';

const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ConfigSource {
  /** parsed values (plain object) */
  values: Record<string, unknown>;
  file?: string;
  doc?: Document;
  lines?: LineCounter;
  /** keys written with hyphens (hyper2kvm accepts max-concurrent-jobs): their path in the file */
  spelled?: Map<string, string[]>;
}

function configError(message: string, file?: string, hint?: string): H2kError {
  return new H2kError(message, { code: 'E_CONFIG', file, hint: hint ?? 'see examples/daemon-enhanced.yaml for every option' });
}

/** Reads YAML (a superset of JSON, so .json files load too). */
export function readConfigFile(path: string): ConfigSource {
  const file = resolve(path);
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_CONFIG_BYTES) throw configError(`config file is larger than 1 MiB`, file);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof H2kError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw configError(`cannot read config file: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, file,
      'pass an existing file to --config');
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = e.linePos?.[0] ? `${e.linePos[0].line}:${e.linePos[0].col}: ` : '';
    throw configError(`${file}:${at}${e.message.split('\n')[0]}`, file);
  }
  const values = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (values === null || values === undefined) return { values: {}, file, doc, lines };
  if (typeof values !== 'object' || Array.isArray(values))
    throw configError(`${file}: the top level must be a mapping of keys (watch_dir: ..., output_dir: ...)`, file);
  const spelled = new Map<string, string[]>();
  const src: ConfigSource = { values: {}, file, doc, lines, spelled };
  src.values = underscoreKeys(values as Record<string, unknown>, [], src);
  for (const section of Object.keys(CONFIG_SECTIONS)) {
    const v = src.values[section];
    if (v && typeof v === 'object' && !Array.isArray(v)) src.values[section] = underscoreKeys(v as Record<string, unknown>, [section], src);
  }
  return src;
}

/** hyper2kvm reads max-concurrent-jobs as max_concurrent_jobs; so does h2k (both at once is an error). */
function underscoreKeys(obj: Record<string, unknown>, at: string[], src: ConfigSource): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const firstSpelling = new Map<string, string>();
  for (const [key, value] of Object.entries(obj)) {
    const name = key.replace(/-/g, '_');
    const other = firstSpelling.get(name) ?? (name !== key && Object.hasOwn(obj, name) ? name : undefined);
    if (other !== undefined)
      throw configError(`${locate(src, [...at, key])}${[...at, name].join('.')} is set twice (as ${other} and as ${key}); keep one`, src.file);
    firstSpelling.set(name, key);
    if (name !== key) src.spelled!.set([...at, name].join('.'), [...at, key]);
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The line and column of a key path's value in the file (of its nearest ancestor that is there). */
function position(src: ConfigSource | undefined, path: PropertyKey[]): { line: number; col: number } | undefined {
  if (!src?.doc || !src.lines) return undefined;
  for (let n = path.length; n > 0; n--) {
    const p = path.slice(0, n).map(String);
    const inFile = src.spelled?.get(p.join('.')) ?? p;
    const node = src.doc.getIn(inFile, true);
    if (isNode(node) && node.range) return src.lines.linePos(node.range[0]);
  }
  return undefined;
}

/** Where in the file a key path lives, as "file:line:col: " (or "file: " when unknown). */
function locate(src: ConfigSource | undefined, path: PropertyKey[]): string {
  if (!src?.file) return '';
  const pos = position(src, path);
  return pos ? `${src.file}:${pos.line}:${pos.col}: ` : `${src.file}: `;
}

/**
 * Refuses unknown keys (with the nearest valid one) and refused values, nested keys included;
 * returns the warnings for keys h2k accepts but does not act on. `extraKeys`: another config
 * area's keys (manifest_workflow_*).
 */
export function checkKeys(src: ConfigSource, extraKeys: Iterable<string> = []): string[] {
  return checkConfigKeys(src.values, knownKeys(extraKeys), src.file, (path) => position(src, path)?.line);
}

/** Flags win over the file; undefined flags leave the file's value alone. Nested keys use dots. */
export function mergeFlags(values: Record<string, unknown>, flags: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = structuredClone(values);
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const parts = key.split('.');
    let target = merged;
    for (const p of parts.slice(0, -1)) {
      const next = target[p];
      if (!next || typeof next !== 'object' || Array.isArray(next)) target[p] = {};
      target = target[p] as Record<string, unknown>;
    }
    target[parts[parts.length - 1]] = value;
  }
  return merged;
}

export interface LoadedConfig<T = DaemonConfig> {
  /** keys_set: the top-level keys the file or flags set (guest fixes run only when asked for) */
  config: T & KeysSet;
  warnings: string[];
  file?: string;
}

/** Validates values against a schema (the daemon's by default), mapping zod issues to file positions. */
export function validateConfig<S extends z.ZodType = typeof daemonConfigSchema>(
  values: Record<string, unknown>,
  src?: ConfigSource,
  schema?: S,
): z.infer<S> {
  const result = (schema ?? daemonConfigSchema).safeParse(values);
  if (result.success) return result.data as z.infer<S>;
  const messages = result.error.issues.slice(0, 5).map((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(top level)';
    return `${locate(src, issue.path)}${key}: ${issue.message}`;
  });
  const more = result.error.issues.length > 5 ? ` (and ${result.error.issues.length - 5} more)` : '';
  throw configError(`invalid daemon configuration: ${messages.join('; ')}${more}`, src?.file);
}

/** The top-level keys a merged config sets itself (flags left undefined do not count). */
export function keysSet(values: Record<string, unknown>): string[] {
  return Object.keys(values).filter((k) => values[k] !== undefined);
}

/** Path keys a config file names relative to itself (as a manifest's fix.virtio_win is): the daemon's cwd is often /. */
const FILE_RELATIVE_KEYS = ['virtio_drivers_dir'];

/**
 * Anchors the file's relative FILE_RELATIVE_KEYS to the file's directory; a flag's value keeps
 * the cwd as its base, as any command-line path does.
 */
export function anchorFilePaths(merged: Record<string, unknown>, src: ConfigSource, flags: Record<string, unknown>): Record<string, unknown> {
  if (!src.file) return merged;
  const out = { ...merged };
  for (const key of FILE_RELATIVE_KEYS) {
    const v = out[key];
    if (flags[key] === undefined && typeof v === 'string' && v !== '' && !isAbsolute(v)) out[key] = resolve(dirname(src.file), v);
  }
  return out;
}

/** File (optional) + flags -> validated config. */
export function loadDaemonConfig(file: string | undefined, flags: Record<string, unknown> = {}): LoadedConfig {
  const src = file ? readConfigFile(file) : { values: {} };
  const warnings = checkKeys(src);
  const merged = anchorFilePaths(mergeFlags(src.values, flags), src, flags);
  const config = validateConfig(merged, src);
  return { config: { ...config, keys_set: keysSet(merged) }, warnings, file: src.file };
}
