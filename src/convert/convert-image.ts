// convertImage(request, {signal, onProgress}) -> result: the entry point shared by the CLI,
// the daemon and the manifest workflow. Validates the request, runs it in a pool worker.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { runTask } from '../pool/pool.js';
import { HASH_ALGORITHMS } from '../hash/algorithms.js';
import { H2kError } from '../util/errors.js';
import type { NativeConvertRequest } from '../native/addon.js';
import { listed, outputFormats } from '../native/formats.js';
import { CACHE_MODES, type ConvertOptions, type ConvertRequest, type ConvertResult } from './types.js';

const COMPRESSIONS = new Set(['none', 'zlib', 'zstd']);
const HASHES = new Set<string>(HASH_ALGORITHMS);

export function toNativeRequest(req: ConvertRequest): NativeConvertRequest {
  const outputFormat = req.outputFormat ?? 'qcow2';
  const compression = req.compression ?? 'none';
  const clusterSize = req.clusterSize ?? 65536;
  const invalid = (message: string, hint: string) => new H2kError(message, { code: 'E_INVALID_ARGUMENT', hint });
  if (!outputFormats().includes(outputFormat))
    throw invalid(`unknown output format '${outputFormat}'`, `use -O ${listed(outputFormats())}`);
  if (!COMPRESSIONS.has(compression))
    throw invalid(`unknown compression '${compression}'`, 'use --compress zlib or --compress zstd');
  if (compression !== 'none' && outputFormat !== 'qcow2')
    throw invalid(`compression needs qcow2 output, not ${outputFormat}`, 'drop --compress or use -O qcow2');
  if (!Number.isInteger(clusterSize) || clusterSize < 512 || clusterSize > 2 * 1024 * 1024 || (clusterSize & (clusterSize - 1)) !== 0)
    throw invalid(`cluster size ${clusterSize} is not a power of two between 512 and 2 MiB`, 'use e.g. --cluster-size 64K');
  const threads = req.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1 || threads > 256)
    throw invalid(`thread count ${threads} must be an integer 1..256`, 'use --threads N');
  const cache = req.cache ?? 'none';
  if (!CACHE_MODES.includes(cache)) throw invalid(`unknown cache mode '${cache}'`, `use -t ${CACHE_MODES.join(' or -t ')}`);
  for (const h of req.hashAlgorithms ?? [])
    if (!HASHES.has(h)) throw invalid(`unknown hash algorithm '${h}'`, 'use md5, xxh3, xxh128, sha256, sha1 or sha512');
  return {
    source: resolve(req.source),
    output: resolve(req.output),
    outputFormat,
    compression,
    clusterSize,
    threads,
    force: req.force ?? false,
    allowExternalPaths: req.allowExternalPaths ?? false,
    sourceFormat: req.sourceFormat ?? '',
    sourceRoot: req.sourceRoot ? resolve(req.sourceRoot) : '',
    hashAlgorithms: req.hashAlgorithms ?? [],
    verify: req.verify ?? false,
    cache,
  };
}

export async function convertImage(req: ConvertRequest, options: ConvertOptions = {}): Promise<ConvertResult> {
  const request = toNativeRequest(req);
  if (options.signal?.aborted) throw new H2kError('conversion cancelled', { code: 'E_CANCELLED' });
  return runTask<ConvertResult>({ kind: 'convert', request }, { signal: options.signal, onProgress: options.onProgress });
}
