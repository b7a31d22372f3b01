// `h2k convert` understands the way qemu-img is typed, so a command line does not have to be
// learned twice:
//   h2k convert -O qcow2 in.vmdk out.qcow2      the last positional names the output (when it
//                                               does not exist yet; an existing file is a source)
//   h2k convert -c in.vmdk out.qcow2            -c takes no value: "in.vmdk" is not an algorithm
//   h2k convert in.vmdk -o compression_type=zstd,cluster_size=128k out.qcow2
//                                               -o key=value[,key=value] are qemu-img's format
//                                               options, never a file name
import { statSync } from 'node:fs';
import { H2kError } from '../../util/errors.js';
import { parseSize } from '../../util/format.js';

export interface ConvertArgs {
  sources: string[];
  output?: string;
  /** true: compress with the default (or compression_type); a string: that algorithm. */
  compress?: string | boolean;
  clusterSize?: string;
}

const ALGORITHMS = new Set(['zlib', 'zstd']);
const FORMAT_OPTIONS = 'compression_type=zlib|zstd, cluster_size=SIZE, subformat=streamOptimized (-O vmdk), preallocation=off, compat=1.1';

/** "a=b,c=d" and not a path: qemu-img's -o. */
export function isFormatOptions(value: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*=[^/]*$/.test(value.split(',')[0]) && !value.includes('/');
}

function invalid(message: string, hint = `qemu-img format options h2k understands: ${FORMAT_OPTIONS}`): H2kError {
  return new H2kError(message, { code: 'E_INVALID_ARGUMENT', hint });
}

/** Applies qemu-img's -o options to the convert arguments. */
function applyFormatOptions(text: string, outputFormat: string, args: ConvertArgs): void {
  let compressionType: string | undefined;
  for (const pair of text.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw invalid(`-o ${text}: '${pair}' is not key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    switch (key) {
      case 'compression_type':
        if (!ALGORITHMS.has(value)) throw invalid(`-o compression_type=${value}: h2k compresses with zlib or zstd`);
        compressionType = value;
        break;
      case 'cluster_size':
        if (Number.isNaN(parseSize(value))) throw invalid(`-o cluster_size=${value}: not a size`, 'e.g. cluster_size=64k');
        args.clusterSize = value;
        break;
      case 'subformat':
        if (outputFormat !== 'vmdk' || value.toLowerCase() !== 'streamoptimized')
          throw invalid(`-o subformat=${value}: h2k writes VMDK as streamOptimized only (-O vmdk)`);
        break;
      case 'preallocation':
        if (value !== 'off') throw invalid(`-o preallocation=${value}: h2k writes sparse outputs only (preallocation=off)`);
        break;
      case 'compat':
        if (value !== '1.1' && value !== 'v3') throw invalid(`-o compat=${value}: h2k writes qcow2 v3 (compat=1.1)`);
        break;
      default:
        throw invalid(`-o ${key}=${value}: unknown format option '${key}'`);
    }
  }
  // As in qemu-img, compression_type picks the algorithm and -c turns compression on.
  if (compressionType && args.compress !== undefined && args.compress !== false) args.compress = compressionType;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function applyQemuImgHabits(
  sources: string[],
  flags: { output?: string; compress?: string | boolean; clusterSize?: string },
  outputFormat: string,
): ConvertArgs {
  const args: ConvertArgs = { sources: [...sources], output: flags.output, compress: flags.compress, clusterSize: flags.clusterSize };
  // -c swallowed the next word: it was a source, and -c meant "compress with the default".
  if (typeof args.compress === 'string' && !ALGORITHMS.has(args.compress)) {
    args.sources.unshift(args.compress);
    args.compress = true;
  }
  if (args.output !== undefined && isFormatOptions(args.output)) {
    const text = args.output;
    args.output = undefined;
    applyFormatOptions(text, outputFormat, args);
  }
  // qemu-img's positional output: the last of two names, when nothing is there yet.
  if (args.output === undefined && args.sources.length === 2 && !exists(args.sources[1])) args.output = args.sources.pop();
  return args;
}
