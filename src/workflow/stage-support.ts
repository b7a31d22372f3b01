// Which stages this build can run. Checked before a pipeline starts so an unsupported stage
// fails up front with a clear "not supported yet", never after hours of conversion or as a pass.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertImage } from '../convert/convert-image.js';
import { loadAddon } from '../native/addon.js';
import { H2kError } from '../util/errors.js';
import { guestUnsupported, loadGuestApi } from './guest-api.js';
import { hasherUnsupported, loadContentHasher } from './hash-api.js';
import type { Pipeline, StageName } from './manifest-schema.js';

export interface StageProblem {
  stage: StageName;
  error: H2kError;
}

let qcow2Readable: Promise<boolean> | undefined;

/** Whether the native reader opens h2k's own qcow2 output: converts a 64 KiB raw and reads it back. */
export function nativeReadsQcow2(): Promise<boolean> {
  qcow2Readable ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'h2k-probe-'));
    try {
      await writeFile(join(dir, 'probe.raw'), Buffer.alloc(65536, 0x5a));
      await convertImage({ source: join(dir, 'probe.raw'), output: join(dir, 'probe.qcow2'), outputFormat: 'qcow2', sourceFormat: 'raw', threads: 1 });
      return loadAddon().detectFormat(join(dir, 'probe.qcow2')) === 'qcow2';
    } catch {
      return false;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return qcow2Readable;
}

export function qcow2ReaderMissing(): H2kError {
  return new H2kError('validate is not supported yet for qcow2 outputs: this build cannot re-read qcow2 natively', {
    code: 'E_UNSUPPORTED',
    hint: 'use output_format raw, or set validate.enabled: false until the qcow2 reader ships',
  });
}

export async function checkStageSupport(pipeline: Pipeline): Promise<StageProblem[]> {
  const problems: StageProblem[] = [];
  const guest = await loadGuestApi();
  if (pipeline.inspect?.enabled && typeof guest.inspectImage !== 'function')
    problems.push({ stage: 'inspect', error: guestUnsupported('the inspect stage') });
  if (pipeline.fix?.enabled && typeof guest.fixImage !== 'function')
    problems.push({ stage: 'fix', error: guestUnsupported('the fix stage') });
  const convert = pipeline.convert;
  if (convert && pipeline.validate?.enabled) {
    if (!(await loadContentHasher())) problems.push({ stage: 'validate', error: hasherUnsupported() });
    else if (convert.output_format === 'qcow2' && !(await nativeReadsQcow2()))
      problems.push({ stage: 'validate', error: qcow2ReaderMissing() });
    const boot = pipeline.validate.boot_test;
    const bootEnabled = boot === true || (typeof boot === 'object' && boot.enabled);
    if (bootEnabled && typeof guest.bootTest !== 'function')
      problems.push({ stage: 'validate', error: guestUnsupported('validate.boot_test') });
  }
  return problems;
}

