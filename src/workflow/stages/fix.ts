// The fix stage: guest fixes on a converted boot disk, in place. One stage for the manifest
// workflow (fixStage), the watch-folder daemon (src/daemon/guest-stage.ts maps its config keys
// onto it) and `h2k fix`; each caller says how a failure reads in its own report.
import { fixImage, type FixImageOptions, type FixResult } from '../../guest/index.js';
import { hashContent } from '../../hash/hash-file.js';
import { H2kError, toH2kError } from '../../util/errors.js';
import { bootNote, CONTENT_HASH, secondsSince, type StageDetails, type VmRun } from './vm-run.js';

export interface FixGuestOptions extends FixImageOptions {
  /** The error when requested fixes could not be applied; without it the result lists them
   *  (`failed`) and the caller decides (`h2k fix` exits 1). */
  failed?: (result: FixResult) => H2kError;
  /** How an error of the fix itself is reported (default: as it is). */
  explain?: (e: H2kError) => H2kError;
  /** A guest with no OS (a data disk) is left as it is: null instead of E_GUEST_NO_OS. */
  allowNoOs?: boolean;
}

export function fixGuest(image: string, options: FixGuestOptions & { allowNoOs: true }): Promise<FixResult | null>;
export function fixGuest(image: string, options: FixGuestOptions): Promise<FixResult>;
export async function fixGuest(image: string, options: FixGuestOptions): Promise<FixResult | null> {
  const { failed, explain, allowNoOs, ...fix } = options;
  const result = await fixImage(image, fix).catch((err: unknown) => {
    const e = toH2kError(err);
    if (allowNoOs && e.code === 'E_GUEST_NO_OS') return null;
    throw explain ? explain(e) : e;
  });
  if (result && failed && result.failed.length > 0) throw failed(result);
  return result;
}

/** The manifest's fix stage. The output's content hash in the report is then the fixed file's;
 *  the one that matched the source is kept as converted_content. */
export async function fixStage(run: VmRun): Promise<StageDetails> {
  const fix = run.pipeline.fix!;
  const output = run.artifacts.output!;
  const signal = run.ctx.signal;
  const t = Date.now();
  const fixed = await fixGuest(output, {
    fstab: fix.fstab, grub: fix.grub, initramfs: fix.initramfs, // fixImage takes the manifest's {enabled, …} form
    network: { enabled: fix.network.enabled, fixLevel: fix.network.fix_level },
    removeVmwareTools: fix.remove_vmware_tools,
    virtioWin: fix.windows.enabled ? run.vm.virtioWin : undefined,
    signal,
    failed: (r) => new H2kError(`fixes could not be applied: ${r.failed.join('; ')}`, {
      code: 'E_GUEST_FIX_FAILED', file: output, hint: r.warnings.join('; ') || undefined,
    }),
  });
  // its time is the fix's, not the re-hash's
  const report = { duration_seconds: secondsSince(t), image: output, ...bootNote(run), fixes_applied: fixed.changes, ...(fixed.registry ? { registry_changes: fixed.registry } : {}), warnings: fixed.warnings };
  const hashes = run.artifacts.hashes; // the boot disk's: also artifacts.disks[0].hashes
  if (hashes.output_content) {
    hashes.converted_content = hashes.output_content;
    hashes.output_content = await hashContent(output, [CONTENT_HASH], { signal, format: run.results[0].outputFormat });
  }
  return report;
}
