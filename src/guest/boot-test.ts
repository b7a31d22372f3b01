// Boot test under qemu-system-x86_64 with virtio disk and net; passes only when the serial console
// shows userspace. Guests with a BIOS bootloader in the MBR (grub) boot through it (SeaBIOS ->
// the guest's grub -> its kernel); UEFI guests (an ESP with loaders) boot through OVMF with a
// fresh NVRAM, as a new VM does, so only what the ESP holds can start them; others get a direct
// kernel boot of the guest's own kernel and initramfs. Either way qemu runs on a scratch qcow2 overlay, so the judged image is never written.
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { H2kError } from '../util/errors.js';
import { detectAccel } from './accel.js';
import { withGuestSession, type GuestfishSession } from './guestfish-session.js';
import { detectImageFormat } from './image-format.js';
import { firstFileOf, inspectSession } from './inspect.js';
import type { BootTestResult, GuestInspection } from './types.js';
import { qmpPciDevices, VIRTIO_BLK, VIRTIO_NET } from './windows/boot-devices.js';
import { FIRSTBOOT_MARKER } from './windows/firstboot.js';

export interface BootTestOptions {
  timeoutSeconds?: number;
  consoleLog?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  memoryMiB?: number;
  /** auto (default): the guest's bootloader when the MBR has one and grub.cfg exists, else direct kernel. */
  mode?: BootMode | 'auto';
}

export type BootMode = 'bootloader' | 'direct-kernel';

/** Kernel arguments the boot test must control: the console it reads, and what would hide its lines. */
const CONSOLE_ARG = /^(console=|quiet$|splash$|rhgb$|panic=)/;
const SERIAL_ARGS = 'console=ttyS0,115200 panic=-1';

/** Console lines that only userspace prints. */
// (an initramfs's own systemd also prints "Reached target", so only the final targets count)
export const USERSPACE_MARKERS: RegExp[] = [
  /H2K_BOOT_OK[^\n]*\n/, /^[\w.-]+ login: ?$/m, /Reached target[^\n]*(Multi-User System|Graphical Interface|Login Prompts)[^\n]*/,
];
/** Lines that mean the boot will not get there: fail fast instead of waiting for the timeout. */
// (OVMF: every boot option failed and it fell back to its built-in shell, or has nothing at all;
// dracut: the root device never appeared)
const FAILURE_MARKERS: RegExp[] = [
  /Kernel panic - not syncing[^\n]*/, /Dropping to a shell[^\n]*/, /Gave up waiting for root[^\n]*/,
  /UEFI Interactive Shell[^\n]*/, /No bootable option or device was found[^\n]*/,
  /Timed out waiting for device[^\n]*/, /dracut[^\n]*Could not boot[^\n]*/, /Entering emergency mode[^\n]*/, // dracut / systemd
];

/** OVMF firmware (code, pristine NVRAM) pairs, as Debian's ovmf and Fedora's edk2-ovmf ship them. */
const OVMF_PAIRS: [string, string][] = [
  ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd'],
  ['/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'],
  ['/usr/share/edk2/ovmf/OVMF_CODE.fd', '/usr/share/edk2/ovmf/OVMF_VARS.fd'],
];

interface BootFiles {
  kernel: string;
  initrd: string | null;
  cmdline: string;
}

/** How qemu starts the guest: from the disk's own bootloader, or with -kernel/-initrd/-append. */
type BootPlan =
  | { mode: 'bootloader'; firmware: 'bios' | 'uefi'; grubCfg: string }
  | ({ mode: 'direct-kernel'; firmware: 'bios' } & BootFiles)
  | { mode: 'windows'; firmware: 'bios' };

export async function bootTest(path: string, options: BootTestOptions = {}): Promise<BootTestResult> {
  const image = resolvePath(path);
  const timeoutSeconds = options.timeoutSeconds ?? 600;
  const log = options.log ?? ((line: string) => process.stderr.write(`h2k: guest: ${line}\n`));
  const consoleLogPath = resolvePath(options.consoleLog ?? `${image}.boot-console.log`);
  const format = await detectImageFormat(image, options.signal);
  const scratch = await mkdtemp(join(tmpdir(), 'h2k-boot-'));
  try {
    const overlay = join(scratch, 'overlay.qcow2');
    await createOverlay(image, format, overlay, options.signal);
    const plan = await withGuestSession(overlay, { readonly: false, format: 'qcow2', signal: options.signal, log }, (s) => prepareBoot(s, scratch, options.mode ?? 'auto', image));
    const accel = await detectAccel();
    const started = Date.now();
    const firmwareArgs = plan.firmware === 'uefi' ? await ovmfArgs(scratch) : [];
    log(`boot mode: ${plan.mode === 'bootloader' ? `the guest's own bootloader (${plan.firmware === 'uefi' ? 'OVMF, fresh NVRAM -> ESP' : 'SeaBIOS -> MBR'} -> ${plan.grubCfg})` : plan.mode === 'windows' ? `Windows from its disk, waiting for ${FIRSTBOOT_MARKER} on COM1` : 'direct kernel boot'}`);
    const outcome = await runQemu(overlay, plan, accel, timeoutSeconds, firmwareArgs, { ...options, log }, join(scratch, 'qmp.sock'));
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    await mkdir(dirname(consoleLogPath), { recursive: true });
    await writeFile(consoleLogPath, outcome.console);
    return {
      passed: outcome.marker !== null, marker: outcome.marker, seconds, consoleLog: consoleLogPath, accel, reason: outcome.reason, mode: plan.mode,
      ...(outcome.devices ? { devices: outcome.devices } : {}),
      firmware: plan.firmware,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A qcow2 overlay on the image (libguestfs' disk-create, no appliance): the boot writes land there. */
function createOverlay(image: string, format: string, overlay: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('guestfish', ['--', 'disk-create', overlay, 'qcow2', '-1', `backingfile:${image}`, `backingformat:${format}`],
      { signal, encoding: 'utf8' }, (err, _stdout, stderr) => {
        if (!err) return resolve();
        reject(new H2kError(`cannot create the boot overlay: ${stderr.trim() || err.message}`, {
          code: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'E_GUEST_TOOLS_MISSING' : 'E_GUEST_SESSION', file: image,
          hint: 'install libguestfs-tools and qemu-utils',
        }));
      });
  });
}

/** True when sector 0 carries boot code (not just a partition table) and the 0x55AA signature. */
export function mbrHasBootCode(sector: Buffer): boolean {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) return false;
  return sector.subarray(0, 440).some((b) => b !== 0);
}

/** Adds the serial console to every linux line of grub.cfg (and drops quiet/splash/other consoles). */
export function serialConsoleGrubCfg(text: string): string {
  return text.replace(/^(\s*linux(?:efi|16)?\s+\S+)(.*)$/gm, (_w, head: string, rest: string) =>
    `${head} ${[...rest.split(/\s+/).filter((a) => a && !CONSOLE_ARG.test(a)), SERIAL_ARGS].join(' ')}`);
}

/** Inspects the guest (on the overlay) and decides how to boot it. */
async function prepareBoot(s: GuestfishSession, scratch: string, mode: BootMode | 'auto', image: string): Promise<BootPlan> {
  const info = await inspectSession(s, false);
  if (info.type === 'windows' && info.windows) {
    // booting on virtio-blk needs viostor as a boot-start service: h2k fix --virtio-win sets it
    if (!info.windows.drivers.some((d) => d.name === 'viostor' && d.start === 0))
      throw new H2kError('this Windows guest has no viostor boot-start service: it would stop with INACCESSIBLE_BOOT_DEVICE on virtio', {
        code: 'E_GUEST_WINDOWS_NO_DRIVER', file: image, hint: 'run h2k fix --virtio-win <virtio-win.iso> on the image first',
      });
    return { mode: 'windows', firmware: 'bios' };
  }
  if (info.type === 'windows')
    throw new H2kError(`Windows guest cannot be boot-tested: ${info.notFixableReason}`, { code: info.notFixableCode ?? 'E_GUEST_WINDOWS_UNSUPPORTED', file: image, hint: info.notFixableHint });
  if (!info.fixable) throw new H2kError(info.notFixableReason ?? 'unsupported guest', { code: 'E_GUEST_UNSUPPORTED', file: image });
  const grubCfg = info.bootloader.configs.find((c) => c.endsWith('grub.cfg')) ?? null;
  if (mode !== 'direct-kernel' && info.firmware.kind === 'uefi') {
    // a UEFI guest boots through the firmware, whatever it finds on the ESP, or not at all
    if (grubCfg) await s.writeText(grubCfg, serialConsoleGrubCfg(await s.readText(grubCfg)));
    await s.call('sync');
    return { mode: 'bootloader', firmware: 'uefi', grubCfg: grubCfg ?? `${info.firmware.espMount}/EFI` };
  }
  if (mode !== 'direct-kernel') {
    const mbr = join(scratch, 'mbr');
    const disk = (await s.lines('list-devices'))[0]!;
    await s.call('download-offset', disk, mbr, '0', '512');
    const bootCode = mbrHasBootCode(await readFile(mbr));
    if (bootCode && grubCfg) {
      // only the overlay's copy changes: the guest's own grub then boots with the console we read
      await s.writeText(grubCfg, serialConsoleGrubCfg(await s.readText(grubCfg)));
      await s.call('sync');
      return { mode: 'bootloader', firmware: 'bios', grubCfg };
    }
    if (mode === 'bootloader')
      throw new H2kError(bootCode ? 'the guest has boot code in its MBR but no grub.cfg to point at the serial console' : 'no bootloader in the MBR of the guest disk', {
        code: 'E_GUEST_UNSUPPORTED', file: image, hint: 'use the direct kernel boot (mode auto or direct-kernel)',
      });
  }
  return { mode: 'direct-kernel', firmware: 'bios', ...(await extractBootFiles(s, scratch, info, image)) };
}

/** Kernel, initramfs and command line of the guest's default boot entry, copied out of the image. */
async function extractBootFiles(s: GuestfishSession, scratch: string, info: GuestInspection, image: string): Promise<BootFiles> {
  const entry = await defaultGrubEntry(s, info);
  const newest = info.kernels[info.kernels.length - 1];
  const kernel = entry?.kernel ?? newest?.kernel;
  if (!kernel)
    throw new H2kError('no kernel found in the guest (/boot/vmlinuz-*)', { code: 'E_GUEST_NO_KERNEL', file: image });
  const initrd = entry?.initrd ?? info.kernels.find((k) => k.kernel === kernel)?.initramfs ?? null;
  const rootFs = info.filesystems.find((f) => f.device === info.root);
  let args = entry?.args ?? (rootFs?.uuid ? `root=UUID=${rootFs.uuid} ro` : `root=${info.root} ro`);
  // the console must be the serial port we read; quiet/splash would hide the lines we look for
  args = args.split(/\s+/).filter((a) => a && !CONSOLE_ARG.test(a)).join(' ');
  await s.call('download', kernel, join(scratch, 'kernel'));
  if (initrd) await s.call('download', initrd, join(scratch, 'initrd'));
  return { kernel: join(scratch, 'kernel'), initrd: initrd ? join(scratch, 'initrd') : null, cmdline: `${args} ${SERIAL_ARGS}` };
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

/** qemu arguments for OVMF: its code read-only, a scratch copy of its pristine NVRAM (as a new VM has). */
async function ovmfArgs(scratch: string): Promise<string[]> {
  for (const [code, vars] of OVMF_PAIRS) {
    try {
      await copyFile(vars, join(scratch, 'OVMF_VARS.fd'));
    } catch {
      continue;
    }
    return [
      '-drive', `if=pflash,format=raw,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,file=${join(scratch, 'OVMF_VARS.fd')}`,
      // OVMF's own network boot (PXE over the virtio NIC) would only delay the disk, or the failure, by minutes
      '-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n',
    ];
  }
  throw new H2kError('the guest boots by UEFI and no OVMF firmware was found', {
    code: 'E_GUEST_TOOLS_MISSING', hint: `install ovmf (looked for ${OVMF_PAIRS.map(([c]) => c).join(', ')})`,
  });
}

function runQemu(
  overlay: string, plan: BootPlan, accel: string, timeoutSeconds: number, firmwareArgs: string[], options: BootTestOptions, qmpSocket: string,
): Promise<{ marker: string | null; console: string; reason: string; devices?: string[] }> {
  const args = [
    '-accel', accel, '-m', String(options.memoryMiB ?? 1024), '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', 'stdio',
    // snapshot=on: the boot test never writes to the image it judges
    // bootindex: firmware tries the disk first (OVMF drops the boot options not in qemu's order)
    '-drive', `if=none,id=disk0,file=${overlay},format=qcow2,snapshot=on`, '-device', 'virtio-blk-pci,drive=disk0,bootindex=1',
    // no option ROM: firmware network boot would only delay the disk (or the failure) by minutes
    '-netdev', 'user,id=net0', '-device', 'virtio-net-pci,netdev=net0,romfile=', ...firmwareArgs,
  ];
  if (plan.mode === 'direct-kernel') {
    args.push('-kernel', plan.kernel, '-append', plan.cmdline);
    if (plan.initrd) args.push('-initrd', plan.initrd);
  }
  if (plan.mode === 'windows') args.push('-qmp', `unix:${qmpSocket},server=on,wait=off`);
  const markers = plan.mode === 'windows' ? [new RegExp(`${FIRSTBOOT_MARKER}[^\n]*`)] : USERSPACE_MARKERS;
  let devices: string[] | undefined;
  options.log?.(`booting under qemu (${accel}), timeout ${timeoutSeconds}s`);
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
      resolve({ marker, console, reason, ...(devices ? { devices } : {}) });
    };
    const onAbort = () => finish(null, 'cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => finish(null, `no ${plan.mode === 'windows' ? FIRSTBOOT_MARKER : 'userspace marker'} within ${timeoutSeconds}s${devices ? ` (qemu ran the disk on ${devices.includes(VIRTIO_BLK) ? 'virtio-blk' : 'NO virtio-blk'}${devices.includes(VIRTIO_NET) ? ' with virtio-net' : ''})` : ''}`), timeoutSeconds * 1000);
    if (plan.mode === 'windows')
      qmpPciDevices(qmpSocket).then((d) => { devices = d; options.log?.(`qemu PCI devices: ${d.join(' ')}`); }, (e: Error) => options.log?.(`QMP query-pci failed: ${e.message}`));
    const scan = () => {
      for (const re of markers) {
        const m = re.exec(console);
        if (m) return finish(m[0].replace(/\x1b\[[0-9;]*m/g, '').trim(), 'userspace reached'); // systemd colours its status lines
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
