// Boot test: direct kernel boot of the guest's own kernel/initramfs (taken from the image) under
// qemu-system-x86_64 with virtio disk and net; passes only when the serial console shows userspace.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { H2kError } from '../util/errors.js';
import { detectAccel } from './accel.js';
import { withGuestSession, type GuestfishSession } from './guestfish-session.js';
import { detectImageFormat } from './image-format.js';
import { firstFileOf, inspectSession } from './inspect.js';
import type { BootTestResult, GuestInspection } from './types.js';

export interface BootTestOptions {
  timeoutSeconds?: number;
  consoleLog?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  memoryMiB?: number;
}

/** Console lines that only userspace prints. */
// (an initramfs's own systemd also prints "Reached target", so only the final targets count)
export const USERSPACE_MARKERS: RegExp[] = [
  /H2K_BOOT_OK[^\n]*\n/, /^[\w.-]+ login: ?$/m, /Reached target[^\n]*(Multi-User System|Graphical Interface|Login Prompts)[^\n]*/,
];
/** Lines that mean the boot will not get there: fail fast instead of waiting for the timeout. */
const FAILURE_MARKERS: RegExp[] = [/Kernel panic - not syncing[^\n]*/, /Dropping to a shell[^\n]*/, /Gave up waiting for root[^\n]*/];

interface BootFiles {
  kernel: string;
  initrd: string | null;
  cmdline: string;
}

export async function bootTest(path: string, options: BootTestOptions = {}): Promise<BootTestResult> {
  const image = resolvePath(path);
  const timeoutSeconds = options.timeoutSeconds ?? 600;
  const log = options.log ?? ((line: string) => process.stderr.write(`h2k: guest: ${line}\n`));
  const consoleLogPath = resolvePath(options.consoleLog ?? `${image}.boot-console.log`);
  const format = await detectImageFormat(image, options.signal);
  const scratch = await mkdtemp(join(tmpdir(), 'h2k-boot-'));
  try {
    const files = await withGuestSession(image, { readonly: true, signal: options.signal, log }, (s) => extractBootFiles(s, scratch));
    const accel = await detectAccel();
    const started = Date.now();
    const outcome = await runQemu(image, format, files, accel, timeoutSeconds, { ...options, log });
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    await mkdir(dirname(consoleLogPath), { recursive: true });
    await writeFile(consoleLogPath, outcome.console);
    return { passed: outcome.marker !== null, marker: outcome.marker, seconds, consoleLog: consoleLogPath, accel, reason: outcome.reason };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Kernel, initramfs and command line of the guest's default boot entry, copied out of the image. */
async function extractBootFiles(s: GuestfishSession, scratch: string): Promise<BootFiles> {
  const info = await inspectSession(s, true);
  if (info.type === 'windows')
    throw new H2kError('the boot test cannot boot Windows guests yet', { code: 'E_GUEST_WINDOWS_UNSUPPORTED', file: s.image });
  if (!info.fixable) throw new H2kError(info.notFixableReason ?? 'unsupported guest', { code: 'E_GUEST_UNSUPPORTED', file: s.image });
  const entry = await defaultGrubEntry(s, info);
  const newest = info.kernels[info.kernels.length - 1];
  const kernel = entry?.kernel ?? newest?.kernel;
  if (!kernel)
    throw new H2kError('no kernel found in the guest (/boot/vmlinuz-*)', { code: 'E_GUEST_NO_KERNEL', file: s.image });
  const initrd = entry?.initrd ?? info.kernels.find((k) => k.kernel === kernel)?.initramfs ?? null;
  const rootFs = info.filesystems.find((f) => f.device === info.root);
  let args = entry?.args ?? (rootFs?.uuid ? `root=UUID=${rootFs.uuid} ro` : `root=${info.root} ro`);
  // the console must be the serial port we read; quiet/splash would hide the lines we look for
  args = args.split(/\s+/).filter((a) => a && !/^(console=|quiet$|splash$|rhgb$)/.test(a)).join(' ');
  await s.call('download', kernel, join(scratch, 'kernel'));
  if (initrd) await s.call('download', initrd, join(scratch, 'initrd'));
  return { kernel: join(scratch, 'kernel'), initrd: initrd ? join(scratch, 'initrd') : null, cmdline: `${args} console=ttyS0,115200 panic=-1` };
}

/** The first `linux`/`initrd` pair of grub.cfg, with paths resolved inside the guest. */
async function defaultGrubEntry(s: GuestfishSession, info: GuestInspection): Promise<{ kernel: string; initrd: string | null; args: string } | null> {
  const cfg = info.bootloader.configs.find((c) => c.endsWith('grub.cfg'));
  if (!cfg) return null;
  const text = await s.readText(cfg);
  const linux = /^\s*linux(?:efi|16)?\s+(\S+)(.*)$/m.exec(text);
  if (!linux) return null;
  const initrdLine = /^\s*initrd(?:efi|16)?\s+(\S+)/m.exec(text.slice(linux.index));
  const inGuest = async (p: string) => firstFileOf(s, [p, `/boot${p}`]); // a separate /boot makes paths relative to it
  const kernel = await inGuest(linux[1]!);
  if (!kernel) return null;
  return { kernel, initrd: initrdLine ? await inGuest(initrdLine[1]!) : null, args: linux[2]!.trim() };
}

function runQemu(
  image: string, format: string, files: BootFiles, accel: string, timeoutSeconds: number, options: BootTestOptions,
): Promise<{ marker: string | null; console: string; reason: string }> {
  const args = [
    '-accel', accel, '-m', String(options.memoryMiB ?? 1024), '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', 'stdio',
    // snapshot=on: the boot test never writes to the image it judges
    '-drive', `file=${image},format=${format},if=virtio,snapshot=on`,
    '-netdev', 'user,id=net0', '-device', 'virtio-net-pci,netdev=net0',
    '-kernel', files.kernel, '-append', files.cmdline,
  ];
  if (files.initrd) args.push('-initrd', files.initrd);
  options.log?.(`booting ${image} under qemu (${accel}), timeout ${timeoutSeconds}s`);
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    let done = false;
    const finish = (marker: string | null, reason: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      child.kill('SIGKILL');
      resolve({ marker, console, reason });
    };
    const onAbort = () => finish(null, 'cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => finish(null, `no userspace marker within ${timeoutSeconds}s`), timeoutSeconds * 1000);
    const scan = () => {
      for (const re of USERSPACE_MARKERS) {
        const m = re.exec(console);
        if (m) return finish(m[0].trim(), 'userspace reached');
      }
      for (const re of FAILURE_MARKERS) {
        const m = re.exec(console);
        if (m) return finish(null, m[0].trim());
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      if (console.length < 16 * 1024 * 1024) console += d.toString('utf8').replace(/\r/g, '');
      scan();
    });
    child.stderr.on('data', (d: Buffer) => (console += `[qemu] ${d.toString('utf8')}`));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new H2kError(e.code === 'ENOENT' ? 'qemu-system-x86_64 is not installed' : `cannot start qemu: ${e.message}`, {
        code: 'E_GUEST_TOOLS_MISSING', hint: 'install qemu-system-x86',
      }));
    });
    child.on('close', (code) => finish(null, `qemu exited (code ${code}) before userspace was reached`));
  });
}
