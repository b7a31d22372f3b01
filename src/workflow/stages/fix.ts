// Fix stage: guest fixes on the converted boot disk. The output's content hash in the report is
// then the fixed file's; the one that matched the source is kept as converted_content.
import { fixImage } from '../../guest/index.js';
import { hashContent } from '../../hash/hash-file.js';
import { H2kError } from '../../util/errors.js';
import { bootNote, CONTENT_HASH, secondsSince, type VmRun } from './vm-run.js';

export async function fixStage(run: VmRun): Promise<void> {
  const fix = run.pipeline.fix!;
  const output = run.artifacts.output!;
  const signal = run.ctx.signal;
  const t = Date.now();
  const fixed = await fixImage(output, {
    fstab: { enabled: fix.fstab.enabled, mode: fix.fstab.mode },
    grub: { enabled: fix.grub.enabled },
    initramfs: { enabled: fix.initramfs.enabled, regenerate: fix.initramfs.regenerate },
    network: { enabled: fix.network.enabled, fixLevel: fix.network.fix_level },
    removeVmwareTools: fix.remove_vmware_tools,
    virtioWin: fix.windows.enabled ? run.vm.virtioWin : undefined,
    dryRun: false,
    signal,
  });
  if (fixed.failed.length > 0)
    throw new H2kError(`fixes could not be applied: ${fixed.failed.join('; ')}`, {
      code: 'E_GUEST_FIX_FAILED', file: output, hint: fixed.warnings.join('; ') || undefined,
    });
  run.stages.fix = { status: 'success', duration_seconds: secondsSince(t), image: output, ...bootNote(run), fixes_applied: fixed.changes, ...(fixed.registry ? { registry_changes: fixed.registry } : {}), warnings: fixed.warnings };
  const boot = run.jobs[0];
  if (boot?.hashes.output_content) {
    boot.hashes.converted_content = boot.hashes.output_content;
    boot.hashes.output_content = await hashContent(output, [CONTENT_HASH], { signal, format: boot.result!.outputFormat });
  }
}
