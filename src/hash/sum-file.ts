// Checksum lines as md5sum, sha256sum and xxhsum write and read them:
//   GNU:  "<hex>  <name>"  (text) or "<hex> *<name>" (binary); xxhsum's "XXH3_<hex>  <name>"
//   BSD:  "MD5 (<name>) = <hex>", "SHA256 (...)", "XXH3 (...)", "XXH128 (...)"
// A name containing a backslash, newline or CR is escaped and the line starts with "\".
import { basename } from 'node:path';
import { algorithmFromBsdTag, BSD_TAG, DIGEST_HEX_LENGTH, type HashAlgorithm } from './algorithms.js';

export interface SumLine {
  algorithm: HashAlgorithm;
  hex: string;
  name: string;
  style: 'gnu' | 'bsd';
}

export type SumLineStyle = 'auto' | 'gnu' | 'bsd';

function escapeName(name: string): { escaped: boolean; text: string } {
  if (!/[\\\n\r]/.test(name)) return { escaped: false, text: name };
  return { escaped: true, text: name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r') };
}

function unescapeName(text: string): string | undefined {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[++i];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else if (next === 'r') out += '\r';
    else return undefined;  // invalid escape: the line is improperly formatted
  }
  return out;
}

/**
 * One output line. 'auto' prints what the classic tool prints: GNU style for md5, sha256 and
 * xxh128, BSD style for xxh3 (as `xxhsum -H3` does: a bare 16-digit line means XXH64 to xxhsum).
 */
export function formatSumLine(algorithm: HashAlgorithm, hex: string, name: string, style: SumLineStyle = 'auto'): string {
  const bsd = style === 'bsd' || (style === 'auto' && algorithm === 'xxh3');
  const { escaped, text } = escapeName(name);
  const prefix = escaped ? '\\' : '';
  return bsd ? `${prefix}${BSD_TAG[algorithm]} (${text}) = ${hex}` : `${prefix}${hex}  ${text}`;
}

/** Guesses the algorithm of a sum file from its name: MD5SUMS, x.sha256, disk.xxh128 ... */
export function algorithmFromSumFileName(path: string): HashAlgorithm | undefined {
  const n = basename(path).toLowerCase();
  if (/xxh128|xxh3[-_]?128/.test(n)) return 'xxh128';
  if (/xxh3|xxh64/.test(n)) return n.includes('xxh64') ? undefined : 'xxh3';
  if (/sha256/.test(n)) return 'sha256';
  if (/md5/.test(n)) return 'md5';
  return undefined;
}

const GNU_LINE = /^(?:(XXH3|XXH128)_)?([0-9a-fA-F]+) ([ *])(.+)$/;
const BSD_LINE = /^([A-Za-z0-9-]+) ?\((.*)\) = ([0-9a-fA-F]+)$/;

/**
 * Parses one line; undefined when it is not a properly formatted checksum line for a supported
 * algorithm. GNU lines carry no algorithm: `algorithm` (from -a or the file name) decides, else
 * the digest length does (32 hex digits = md5; use -a xxh128 for XXH128 sums).
 */
export function parseSumLine(line: string, algorithm?: HashAlgorithm): SumLine | undefined {
  let text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const escaped = text.startsWith('\\');
  if (escaped) text = text.slice(1);

  const bsd = BSD_LINE.exec(text);
  if (bsd) {
    const algo = algorithmFromBsdTag(bsd[1].replace('-', ''));
    const name = escaped ? unescapeName(bsd[2]) : bsd[2];
    if (algo && name !== undefined && bsd[3].length === DIGEST_HEX_LENGTH[algo] && (!algorithm || algorithm === algo))
      return { algorithm: algo, hex: bsd[3].toLowerCase(), name, style: 'bsd' };
  }

  const gnu = GNU_LINE.exec(text);
  if (!gnu) return undefined;
  const hex = gnu[2].toLowerCase();
  const tagged = gnu[1] === 'XXH3' ? 'xxh3' : gnu[1] === 'XXH128' ? 'xxh128' : undefined;
  const byLength = ({ 32: 'md5', 16: 'xxh3', 64: 'sha256' } as Record<number, HashAlgorithm>)[hex.length];
  const algo = tagged ?? algorithm ?? byLength;
  if (!algo || hex.length !== DIGEST_HEX_LENGTH[algo] || (algorithm && algo !== algorithm)) return undefined;
  const name = escaped ? unescapeName(gnu[4]) : gnu[4];
  if (name === undefined || name.length === 0) return undefined;
  return { algorithm: algo, hex, name, style: 'gnu' };
}
