// h2k fix <image>: make a converted guest boot on KVM (fstab, grub, initramfs, network, VMware tools).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { FixResult } from '../../guest/types.js';
import { fixGuest } from '../../workflow/stages/fix.js';
import { EXIT } from '../exit-codes.js';
import { reportError } from '../report-error.js';

interface FixFlags {
  fstab: string;
  grub?: boolean;
  initramfs?: boolean;
  network: string;
  removeVmwareTools?: boolean;
  virtioWin?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function formatFixResult(r: FixResult): string {
  const lines = [`${r.dryRun ? 'would change' : 'changed'} ${r.changes.length} file${r.changes.length === 1 ? '' : 's'} in ${r.os.type}${r.os.distro ? ` / ${r.os.distro}` : ''}${r.os.version ? ` ${r.os.version}` : ''}:`];
  for (const c of r.changes) {
    lines.push(`  [${c.kind}] ${c.file}${c.after === null ? ' (removed)' : c.before === null ? ' (created)' : ''}`);
    const before = (c.before ?? '').split('\n');
    const after = (c.after ?? '').split('\n');
    // a compact line diff: what went, what came
    for (const l of before) if (l.trim() && !after.includes(l)) lines.push(`    - ${l}`);
    for (const l of after) if (l.trim() && !before.includes(l)) lines.push(`    + ${l}`);
  }
  if (r.registry?.length) lines.push(`${r.dryRun ? 'would change' : 'changed'} ${r.registry.length} registry value${r.registry.length === 1 ? '' : 's'}:`);
  for (const c of r.registry ?? []) lines.push(`  [${c.hive}] ${c.key}\\${c.value}: ${c.before === null ? '(none)' : JSON.stringify(c.before)} -> ${JSON.stringify(c.after)}`);
  const fb = r.firstboot;
  if (fb) {
    lines.push(`first boot ${r.dryRun ? 'would' : 'will'}: install ${fb.drivers.join(', ') || 'no drivers'} with pnputil`);
    if (fb.removeVmwareTools) lines.push(`  uninstall VMware Tools ${fb.removeVmwareTools.version ?? ''} (msiexec /x ${fb.removeVmwareTools.productCode})`);
    for (const ip of fb.staticIps) lines.push(`  re-apply static ${ip.addresses.join(', ')} (of adapter ${ip.interface}) to a virtio adapter`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

export function registerFix(program: Command): void {
  program
    .command('fix')
    .description('fix a converted guest so it boots on KVM (works on the image in place: pass the converted output, never the source)')
    .argument('<image>', 'converted disk image (qcow2 or raw)')
    .option('--fstab <mode>', 'stabilize-all | bypath-only | noop', 'stabilize-all')
    .option('--grub', 'rewrite root=/resume= in GRUB config to UUIDs, drop device.map, regenerate')
    .option('--initramfs', 'add virtio drivers to the initramfs config and regenerate it for every kernel')
    .option('--network <level>', 'full | basic | none', 'basic')
    .option('--remove-vmware-tools', 'remove VMware tools (Linux: packages, services, config; Windows, the default there: msiexec /x on first boot)')
    .option('--no-remove-vmware-tools', 'Windows guests: keep VMware Tools (no uninstall on first boot)')
    .option('--virtio-win <iso|dir>', 'Windows guests: the virtio-win ISO or a directory laid out like it (drivers injected, first boot staged)')
    .option('--dry-run', 'list the changes without writing anything')
    .option('--json', 'print the JSON result')
    .action(async (image: string, flags: FixFlags) => {
      try {
        // the stage without `failed`: the failures are listed, and exit 1 below
        const result = await fixGuest(resolve(image), {
          fstab: flags.fstab as never,
          grub: flags.grub ?? false,
          initramfs: flags.initramfs ?? false,
          network: flags.network as never,
          removeVmwareTools: flags.removeVmwareTools,
          virtioWin: flags.virtioWin === undefined ? undefined : resolve(flags.virtioWin),
          dryRun: flags.dryRun ?? false,
        });
        process.stdout.write((flags.json ? JSON.stringify({ image: resolve(image), ...result }, null, 2) : formatFixResult(result)) + '\n');
        // a requested fix that could not be applied (e.g. update-initramfs failed in the guest) is a failure
        process.exitCode = result.failed.length ? EXIT.FAILURE : EXIT.OK;
      } catch (err) {
        process.exitCode = reportError(err, flags.json);
      }
    });
}
