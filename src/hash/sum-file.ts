// Checksum lines as md5sum, sha*sum, b2sum and xxhsum write and read them:
//   GNU:  "<hex>  <name>"  (text) or "<hex> *<name>" (binary); xxhsum's "XXH3_<hex>  <name>"
//   BSD:  "MD5 (<name>) = <hex>", "SHA256 (...)", "BLAKE2b (...)", "XXH64 (...)", "XXH3 (...)" ...
// A name containing a backslash, newline or CR is escaped and the line starts with "\".
import { basename } from 'node:path';
import { algorithmFromBsdTag, BSD_TAG, CANDIDATES_BY_LENGTH, DIGEST_HEX_LENGTH, type HashAlgorithm } from './algorithms.js';

export interface SumLine {
  /** The algorithm, or the likeliest of `candidates`. */
  algorithm: HashAlgorithm;
  /**
   * What the line may be: one algorithm when a tag, -a or the sum file's name says which, or
   * when the length allows only one; several for an untagged line of an ambiguous length
   * (32 hex: md5 or xxh128; 16: xxh64 or xxh3; 128: sha512 or blake2b).
   */
  candidates: HashAlgorithm[];
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
 * One output line. 'auto' prints what the classic tool prints: GNU style for md5, sha*, blake2b
 * (b2sum), xxh32, xxh64 and xxh128 (xxhsum -H0/-H1/-H2), BSD style for xxh3 (as `xxhsum -H3`
 * does: a bare 16-digit line means XXH64 to xxhsum).
 */
export function formatSumLine(algorithm: HashAlgorithm, hex: string, name: string, style: SumLineStyle = 'auto'): string {
  const bsd = style === 'bsd' || (style === 'auto' && algorithm === 'xxh3');
  const { escaped, text } = escapeName(name);
  const prefix = escaped ? '\\' : '';
  return bsd ? `${prefix}${BSD_TAG[algorithm]} (${text}) = ${hex}` : `${prefix}${hex}  ${text}`;
}

/**
 * A file name as `md5sum -c` reports it: escaped, with a leading backslash, only when it holds a
 * newline (a line of output must stay one line).
 */
export function formatCheckedName(name: string): string {
  return name.includes('\n') ? `\\${escapeName(name).text}` : name;
}

/** Guesses the algorithm of a sum file from its name: MD5SUMS, x.sha256, B2SUMS, disk.xxh128 ... */
export function algorithmFromSumFileName(path: string): HashAlgorithm | undefined {
  const n = basename(path).toLowerCase();
  // "xxh3" is a prefix of "xxh32" and "xxh3-128": the longer names first.
  if (/xxh128|xxh3[-_]?128/.test(n)) return 'xxh128';
  if (/xxh32/.test(n)) return 'xxh32';
  if (/xxh64/.test(n)) return 'xxh64';
  if (/xxh3/.test(n)) return 'xxh3';
  if (/sha512/.test(n)) return 'sha512';
  if (/sha256/.test(n)) return 'sha256';
  if (/sha1(?!\d)/.test(n)) return 'sha1';
  if (/blake2(?!s)|(?:^|[^a-z0-9])b2(?:sums?)?(?:$|[^a-z0-9])/.test(n)) return 'blake2b';
  if (/md5/.test(n)) return 'md5';
  return undefined;
}

const GNU_LINE = /^(?:(XXH32|XXH64|XXH3|XXH128)_)?([0-9a-fA-F]+) ([ *])(.+)$/;
const BSD_LINE = /^([A-Za-z0-9-]+) ?\((.*)\) = ([0-9a-fA-F]+)$/;

export interface SumLineHints {
  /** -a: every line must be this algorithm; a line tagged otherwise is improperly formatted. */
  algorithm?: HashAlgorithm;
  /** Guessed from the sum file's name: decides for untagged lines of its digest length. */
  guess?: HashAlgorithm;
}

/** What an untagged digest of `length` hex digits is, given the hints; empty when nothing fits. */
function untaggedCandidates(length: number, hints: SumLineHints): HashAlgorithm[] {
  if (hints.algorithm) return DIGEST_HEX_LENGTH[hints.algorithm] === length ? [hints.algorithm] : [];
  if (hints.guess && DIGEST_HEX_LENGTH[hints.guess] === length) return [hints.guess];
  return [...(CANDIDATES_BY_LENGTH[length] ?? [])];
}

/**
 * Parses one line; undefined when it is not a properly formatted checksum line for a supported
 * algorithm. A tag (BSD, or xxhsum's XXH3_ prefix) names the algorithm; an untagged line is
 * what -a says, else what the sum file's name says if its length fits, else every algorithm of
 * its length (`candidates`).
 */
export function parseSumLine(line: string, hints: SumLineHints | HashAlgorithm = {}): SumLine | undefined {
  const { algorithm, guess } = typeof hints === 'string' ? { algorithm: hints, guess: undefined } : hints;
  let text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const escaped = text.startsWith('\\');
  if (escaped) text = text.slice(1);

  const bsd = BSD_LINE.exec(text);
  if (bsd) {
    const algo = algorithmFromBsdTag(bsd[1]);
    const name = escaped ? unescapeName(bsd[2]) : bsd[2];
    if (algo && name !== undefined && bsd[3].length === DIGEST_HEX_LENGTH[algo] && (!algorithm || algorithm === algo))
      return { algorithm: algo, candidates: [algo], hex: bsd[3].toLowerCase(), name, style: 'bsd' };
  }

  const gnu = GNU_LINE.exec(text);
  if (!gnu) return undefined;
  const hex = gnu[2].toLowerCase();
  const tagged = gnu[1] ? algorithmFromBsdTag(gnu[1]) : undefined;
  let candidates: HashAlgorithm[];
  if (tagged) candidates = hex.length === DIGEST_HEX_LENGTH[tagged] && (!algorithm || algorithm === tagged) ? [tagged] : [];
  else candidates = untaggedCandidates(hex.length, { algorithm, guess });
  if (candidates.length === 0) return undefined;
  const name = escaped ? unescapeName(gnu[4]) : gnu[4];
  if (name === undefined || name.length === 0) return undefined;
  return { algorithm: candidates[0], candidates, hex, name, style: 'gnu' };
}
