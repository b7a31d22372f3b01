// Which accelerator guest tools can use: KVM when /dev/kvm really runs a guest, TCG otherwise.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';

export type Accel = 'kvm' | 'tcg';

let probed: Promise<Accel> | undefined;

/** Probes once per process; H2K_GUEST_ACCEL=tcg|kvm overrides the probe (for hosts where KVM misbehaves). */
export function detectAccel(): Promise<Accel> {
  const forced = process.env.H2K_GUEST_ACCEL;
  if (forced === 'tcg' || forced === 'kvm') return Promise.resolve(forced);
  probed ??= probeKvm();
  return probed;
}

async function probeKvm(): Promise<Accel> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return 'tcg';
  }
  // /dev/kvm can exist yet refuse to create a VM (nested, restricted containers), or create one
  // whose vCPU dies as soon as it runs (a host that cannot set an MSR qemu asks for: qemu aborts
  // in kvm_buf_set_msrs). So run one, with -cpu host as libguestfs and the boot test do: the
  // firmware starts, finds nothing to boot and waits; alive after 2 s means KVM really works.
  return new Promise<Accel>((resolve) => {
    const child = spawn('qemu-system-x86_64', ['-accel', 'kvm', '-cpu', 'host', '-machine', 'q35', '-nodefaults', '-display', 'none', '-no-user-config'], {
      stdio: 'ignore',
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('kvm'); // still running after 2 s: KVM accepted the VM
    }, 2000);
    child.on('error', () => {
      clearTimeout(timer);
      resolve('tcg');
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve('tcg');
    });
  });
}

/** Environment for libguestfs: the direct backend, forced to TCG when KVM isn't usable. */
export function libguestfsEnv(accel: Accel): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LIBGUESTFS_BACKEND: 'direct' };
  if (accel === 'tcg') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
  return env;
}
