// Loads a daemon config from YAML or JSON, lays CLI flags over it and validates it, with
// errors that point at the file, line and key ("daemon.yaml:12:3: retry_policy.max_retries: ...").
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { H2kError } from '../util/errors.js';
import { daemonConfigSchema, daemonShape, FOREIGN_KEYS, notificationsSchema, retryPolicySchema } from './daemon-schema.js';
import type { DaemonConfig } from './daemon-schema.js';

const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ConfigSource {
  /** parsed values (plain object) */
  values: Record<string, unknown>;
  file?: string;
  doc?: Document;
  lines?: LineCounter;
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
  return { values: values as Record<string, unknown>, file, doc, lines };
}

/** Where in the file a key path lives, as "file:line:col: " (or "file: " when unknown). */
function locate(src: ConfigSource | undefined, path: PropertyKey[]): string {
  if (!src?.file) return '';
  if (src.doc && src.lines) {
    for (let n = path.length; n > 0; n--) {
      const node = src.doc.getIn(path.slice(0, n) as (string | number)[], true);
      if (isNode(node) && node.range) {
        const pos = src.lines.linePos(node.range[0]);
        return `${src.file}:${pos.line}:${pos.col}: `;
      }
    }
  }
  return `${src.file}: `;
}

/** Unknown keys are warnings, not errors: an old or foreign config still starts. */
export function unknownKeyWarnings(values: Record<string, unknown>, extraKeys: Iterable<string> = []): string[] {
  const warnings: string[] = [];
  const known = new Set([...Object.keys(daemonShape), ...extraKeys]);
  for (const key of Object.keys(values))
    if (!known.has(key) && !FOREIGN_KEYS.has(key)) warnings.push(`unknown config key '${key}' ignored`);
  const nested: [string, z.ZodObject][] = [['retry_policy', retryPolicySchema], ['notifications', notificationsSchema]];
  for (const [section, schema] of nested) {
    const v = values[section];
    if (v && typeof v === 'object' && !Array.isArray(v))
      for (const key of Object.keys(v)) if (!(key in schema.shape)) warnings.push(`unknown config key '${section}.${key}' ignored`);
  }
  return warnings;
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
  config: T;
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

/** File (optional) + flags -> validated config. */
export function loadDaemonConfig(file: string | undefined, flags: Record<string, unknown> = {}): LoadedConfig {
  const src = file ? readConfigFile(file) : { values: {} };
  const merged = mergeFlags(src.values, flags);
  const config = validateConfig(merged, src);
  return { config, warnings: unknownKeyWarnings(src.values), file: src.file };
}
