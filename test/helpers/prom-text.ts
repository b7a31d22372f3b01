// Prometheus text exposition (0.0.4) for tests: a strict parser (every line must be a HELP,
// TYPE or sample line of a declared family) plus `promtool check metrics` from Debian's
// prometheus package (scripts/setup-system.sh installs it), which parses and lints the same text.
import { spawnSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (\\S+)(?: (-?\\d+))?$`);
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?Inf|NaN)$/i; // case as Go's ParseFloat, which Prometheus uses (prom-client writes "Nan")

function parseValue(v: string, line: string): number {
  if (!VALUE.test(v)) throw new Error(`bad sample value in: ${line}`);
  const l = v.toLowerCase();
  return l === 'nan' ? NaN : l === '-inf' ? -Infinity : l === '+inf' || l === 'inf' ? Infinity : Number(v);
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

/** Parses the whole exposition; throws on any line that is not well formed. */
export function parsePromText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      const f = families.get(m[1]) ?? { name: m[1], type: 'untyped' as const, help: '', samples: [] };
      if (f.help) throw new Error(`second HELP for ${m[1]}`);
      f.help = m[2];
      families.set(m[1], f);
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      const f = families.get(m[1]) ?? { name: m[1], type: 'untyped' as const, help: '', samples: [] };
      if (f.samples.length) throw new Error(`TYPE after samples for ${m[1]}`);
      f.type = m[2] as Family['type'];
      families.set(m[1], f);
    } else if (line.startsWith('#')) {
      continue; // a comment
    } else if ((m = SAMPLE.exec(line))) {
      const f = familyOf(m[1], families);
      if (!f) throw new Error(`sample without a declared family: ${line}`);
      const labels: Record<string, string> = {};
      const body = line.slice(m[1].length).match(/^\{(.*)\} /)?.[1] ?? '';
      for (const l of body.matchAll(new RegExp(LABEL, 'g'))) {
        if (l[1] in labels) throw new Error(`label ${l[1]} twice in: ${line}`);
        labels[l[1]] = l[2];
      }
      const value = m[m.length - 2];
      f.samples.push({ name: m[1], labels, value: parseValue(value, line) });
    } else {
      throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    }
  }
  return families;
}

/** `promtool check metrics` on the text: its parser and linter; returns its complaints ('' when clean). */
export function promtoolCheck(text: string): { code: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool not runnable (apt-get install prometheus; scripts/setup-system.sh): ${r.error.message}`);
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = familyOf(name, families);
  const hits = (f?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}
