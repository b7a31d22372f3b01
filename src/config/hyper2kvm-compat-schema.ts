// hyper2kvm keys a daemon config may carry that h2k accepts (so an existing config loads) but
// does not act on, or refuses with a config error; each with hyper2kvm's type. What h2k does with
// each one, and the warning at start, is in hyper2kvm-keys.ts.
import { z } from 'zod';

export const compatShape = {
  /** hyper2kvm's operation; h2k runs `daemon` only (`cmd` is hyper2kvm's alias) */
  command: z.string().min(1).optional(),
  cmd: z.string().min(1).optional(),
  daemon: z.boolean().optional(),
  workdir: z.string().min(1).optional(),
  flatten: z.boolean().optional(),
  flatten_format: z.enum(['qcow2', 'raw']).optional(),
  compress_level: z.number().int().min(1).max(9).optional(),
  enable_recovery: z.boolean().optional(),
  win_hyperv: z.boolean().optional(),
  /** hyper2kvm's 3-directory disk workflow: not implemented, true is refused */
  workflow_mode: z.boolean().optional(),
  workflow_dir: z.string().min(1).optional(),
  to_output: z.string().min(1).optional(),
  checksum: z.boolean().optional(),
  /** true is refused: the daemon has no dry run */
  dry_run: z.boolean().optional(),
  no_backup: z.boolean().optional(),
  print_fstab: z.boolean().optional(),
  debug: z.boolean().optional(),
  report: z.string().min(1).optional(),
  libvirt_test: z.boolean().optional(),
  qemu_test: z.boolean().optional(),
  memory: z.number().int().positive().optional(),
  vcpus: z.number().int().positive().optional(),
  uefi: z.boolean().optional(),
  timeout: z.number().positive().optional(),
};
