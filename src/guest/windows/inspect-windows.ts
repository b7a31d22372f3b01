// What h2k needs to know about a Windows guest: version and edition (SOFTWARE hive), the current
// control set and the drivers of interest (SYSTEM hive), VMware Tools, hibernation and fast startup.
// The hives are copied out of the guest and read with hivex's tools.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { H2kError } from '../../util/errors.js';
import type { GuestfishSession } from '../guestfish-session.js';
import { listSubkeys, readKey, readValue } from './registry.js';
import { ntfsStateOf } from './volume-checks.js';

export const DRIVERS_OF_INTEREST = ['pvscsi', 'vmxnet3ndis6', 'vmxnet3', 'vmci', 'vmmouse', 'vm3dmp', 'vmhgfs', 'storvsc', 'netvsc', 'viostor', 'vioscsi', 'netkvm'];

export interface WindowsDriver { name: string; start: number | null; imagePath: string | null }
/** One adapter's static IPv4 configuration (Tcpip\Parameters\Interfaces\{GUID} with EnableDHCP 0). */
export interface StaticIp { interface: string; addresses: string[]; masks: string[]; gateways: string[]; dns: string[] }

export interface WindowsInspection {
  productName: string | null;
  major: number;
  minor: number;
  build: number | null;
  edition: string | null;
  variant: string | null;          // Client / Server (InstallationType)
  server: boolean;
  arch: string | null;
  systemRoot: string;              // guest path, e.g. /Windows
  currentControlSet: string;       // ControlSet001
  controlSets: string[];           // every ControlSet00N in the SYSTEM hive
  systemHive: string;              // guest paths of the hives
  softwareHive: string;
  drivers: WindowsDriver[];        // drivers of interest present as services
  vmwareTools: { present: boolean; version: string | null; productCode: string | null };
  hibernation: { hiberfil: 'absent' | 'hibernated' | 'not-hibernated'; hiberbootEnabled: boolean | null };
  ntfs: { dirty: boolean | null; detail: string | null };  // the system volume's dirty bit ($Volume); null: unreadable, detail says why
  staticIps: StaticIp[];
}

export interface LocalHives { dir: string; system: string; software: string }

/** Copies SYSTEM and SOFTWARE out of the guest into a private temp dir. */
export async function downloadHives(s: GuestfishSession, root: string): Promise<LocalHives> {
  const dir = await mkdtemp(join(tmpdir(), 'h2k-hives-'));
  try {
    const system = join(dir, 'SYSTEM');
    const software = join(dir, 'SOFTWARE');
    await s.call('download', (await s.call('inspect-get-windows-system-hive', root)).trim(), system);
    await s.call('download', (await s.call('inspect-get-windows-software-hive', root)).trim(), software);
    return { dir, system, software };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function num(v: string | null): number | null {
  if (v === null) return null;
  const n = /^dword:([0-9a-f]{8})$/i.exec(v);
  if (n) return parseInt(n[1]!, 16);
  return /^\d+$/.test(v.trim()) ? Number(v.trim()) : null;
}

function str(v: string | null): string | null {
  if (v === null) return null;
  const m = /^(?:str\(\d+\):)?"((?:[^"\\]|\\.)*)"$/.exec(v);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : v;
}

function multi(v: string | null): string[] {
  return v === null ? [] : v.split('\n').filter((x) => x !== '');
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Dotted IPv4 addresses only: they are written into the first-boot script. */
const ipv4 = (xs: string[]) => xs.map((x) => x.trim()).filter((x) => IPV4.test(x) && x !== '0.0.0.0');

/** Requires the guest mounted (read-only is enough) and its hives downloaded. */
export async function inspectWindows(
  s: GuestfishSession, root: string, hives: LocalHives, base: { productName: string | null; version: string | null; arch: string | null },
): Promise<WindowsInspection> {
  const [major, minor] = (base.version ?? '0.0').split('.').map(Number) as [number, number];
  const cv = 'Microsoft\\Windows NT\\CurrentVersion';
  const build = Number(await readValue(hives.software, cv, 'CurrentBuildNumber')) || null;
  const variant = await readValue(hives.software, cv, 'InstallationType');
  const select = await readKey(hives.system, 'Select');
  const current = num(select?.get('Current') ?? null);
  const controlSets = ((await listSubkeys(hives.system, '')) ?? []).filter((k) => /^ControlSet\d{3}$/i.test(k)).sort();
  const currentControlSet = current === null ? '' : `ControlSet${String(current).padStart(3, '0')}`;
  if (!controlSets.includes(currentControlSet))
    throw new H2kError(`the SYSTEM hive's current control set (Select\\Current = ${current ?? 'missing'}) does not exist; the hive has ${controlSets.join(', ') || 'no control set'}`, {
      code: 'E_GUEST_WINDOWS_CONTROL_SET', file: s.image, hint: 'the registry is damaged: boot the VM in its hypervisor (Last Known Good Configuration) and convert again',
    });

  const drivers: WindowsDriver[] = [];
  for (const name of DRIVERS_OF_INTEREST) {
    const k = await readKey(hives.system, `${currentControlSet}\\Services\\${name}`);
    if (k) drivers.push({ name, start: num(k.get('Start') ?? null), imagePath: str(k.get('ImagePath') ?? null) });
  }

  let tools: WindowsInspection['vmwareTools'] = { present: false, version: null, productCode: null };
  const un = 'Microsoft\\Windows\\CurrentVersion\\Uninstall';
  for (const sub of (await listSubkeys(hives.software, un)) ?? []) {
    if ((await readValue(hives.software, `${un}\\${sub}`, 'DisplayName')) !== 'VMware Tools') continue;
    tools = { present: true, version: await readValue(hives.software, `${un}\\${sub}`, 'DisplayVersion'), productCode: /^\{[0-9A-F-]+\}$/i.test(sub) ? sub : null };
  }
  if (!tools.present && (await readKey(hives.software, 'VMware, Inc.\\VMware Tools'))) tools.present = true;

  const hiberPath = (await s.exists('/hiberfil.sys')) ? '/hiberfil.sys' : null;
  let hiberfil: WindowsInspection['hibernation']['hiberfil'] = 'absent';
  if (hiberPath) {
    const head = Buffer.from(await s.call('pread', hiberPath, '4', '0'), 'latin1').toString('latin1').toLowerCase();
    hiberfil = head === 'hibr' || head === 'wake' ? 'hibernated' : 'not-hibernated';
  }
  const hb = num(await readValue(hives.system, `${currentControlSet}\\Control\\Session Manager\\Power`, 'HiberbootEnabled'));

  const staticIps: StaticIp[] = [];
  const ifs = `${currentControlSet}\\Services\\Tcpip\\Parameters\\Interfaces`;
  for (const sub of (await listSubkeys(hives.system, ifs)) ?? []) {
    const k = `${ifs}\\${sub}`;
    if (num(await readValue(hives.system, k, 'EnableDHCP')) !== 0) continue;
    const all = multi(await readValue(hives.system, k, 'IPAddress'));
    const masks = multi(await readValue(hives.system, k, 'SubnetMask'));
    // addresses and masks are parallel lists: keep the pairs that are both IPv4
    const pairs = all.map((a, i) => [a.trim(), (masks[i] ?? '').trim()] as const).filter(([a, m]) => ipv4([a]).length && IPV4.test(m));
    if (!pairs.length) continue;
    staticIps.push({
      interface: sub, addresses: pairs.map(([a]) => a), masks: pairs.map(([, m]) => m),
      gateways: ipv4(multi(await readValue(hives.system, k, 'DefaultGateway'))),
      dns: ipv4((await readValue(hives.system, k, 'NameServer') ?? '').split(/[,\s]+/)),
    });
  }

  return {
    productName: base.productName,
    major, minor, build,
    edition: await readValue(hives.software, cv, 'EditionID'),
    variant,
    server: variant === null ? /server/i.test(base.productName ?? '') : /server/i.test(variant),
    arch: base.arch,
    systemRoot: (await s.call('inspect-get-windows-systemroot', root)).trim(),
    currentControlSet, controlSets,
    systemHive: (await s.call('inspect-get-windows-system-hive', root)).trim(),
    softwareHive: (await s.call('inspect-get-windows-software-hive', root)).trim(),
    drivers,
    vmwareTools: tools,
    hibernation: { hiberfil, hiberbootEnabled: hb === null ? null : hb !== 0 },
    ntfs: await ntfsStateOf(s, root).then(({ dirty, detail }) => ({ dirty, detail })),
    staticIps,
  };
}
