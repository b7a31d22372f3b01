// Inspect stage: the guest OS of the boot disk (the converted output, or the source without convert).
import { inspectImage } from '../../guest/index.js';
import { H2kError } from '../../util/errors.js';
import { bootNote, type StageDetails, type VmRun } from './vm-run.js';

export async function inspectStage(run: VmRun): Promise<StageDetails> {
  const { vm, ctx, pipeline: p } = run;
  const target = run.artifacts.output ?? run.probe!.disks[0].source;
  if (!run.artifacts.output && p.load.source_type === 'ova')
    throw new H2kError('inspect needs a convert stage for an OVA source: libguestfs cannot open a disk inside the archive', {
      code: 'E_UNSUPPORTED', file: vm.sourcePath, hint: 'add a convert stage; inspect then reads the converted boot disk',
    });
  const os = await inspectImage(target, { signal: ctx.signal });
  return { image: target, ...bootNote(run), detect_os: p.inspect?.detect_os, os_detected: os ?? null };
}
