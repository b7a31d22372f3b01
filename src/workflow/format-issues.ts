// zod issues -> "pipeline.convert.output_format: expected qcow2|raw|vdi, got 'qcow3'".
import type { z } from 'zod';
import { STAGE_NAMES } from './manifest-schema.js';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += (out ? '.' : '') + String(part);
  }
  return out || '(manifest)';
}

/** A short rendering of the value the user wrote. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `'${v.length > 60 ? v.slice(0, 57) + '...' : v}'`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function isPipelinePath(path: readonly PropertyKey[]): boolean {
  return path.length > 0 && path[path.length - 1] === 'pipeline';
}

export function formatIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return `${where}: required (expected ${issue.expected})`;
      return `${where}: expected ${issue.expected}, got ${describeValue(input)}`;
    case 'invalid_value': {
      const options = issue.values.map((v) => String(v)).join('|');
      if (input === undefined) return `${where}: required (expected ${options})`;
      return `${where}: expected ${options}, got ${describeValue(input)}`;
    }
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => `'${k}'`).join(', ');
      if (isPipelinePath(issue.path))
        return `${where}: unknown stage ${keys} (stages are ${STAGE_NAMES.join(', ')})`;
      return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}`;
    }
    case 'invalid_union': {
      // An object that fails the object branch: its own issues say more than "no branch matched".
      if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
        const objectBranch = issue.errors.find((b) => !b.some((i) => i.path.length === 0 && i.code === 'invalid_type'));
        if (objectBranch?.length)
          return objectBranch.map((i) => formatIssue({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue)).join('; ');
      }
      const expected = issue.errors.flatMap((b) =>
        b.filter((i) => i.path.length === 0).flatMap((i) =>
          i.code === 'invalid_type' ? [i.expected as string] : i.code === 'invalid_value' ? i.values.map(String) : [],
        ),
      );
      const options = [...new Set(expected)].join('|') || 'another value';
      if (input === undefined) return `${where}: required (expected ${options})`;
      return `${where}: expected ${options}, got ${describeValue(input)}`;
    }
    default:
      return `${where}: ${issue.message}`;
  }
}

export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map(formatIssue);
}
