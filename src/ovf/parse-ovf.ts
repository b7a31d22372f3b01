// OVF descriptor -> OvfVm. fast-xml-parser with namespace prefixes removed, so OVF 1.x and
// 2.x, VMware and VirtualBox exports read the same; RASD items are matched by ResourceType.
// The text is checked first (ovf-xml-guard: no DOCTYPE, no entities); every error names the
// descriptor (`file`, and its name in the message) and the element at fault.
import { basename } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { H2kError } from '../util/errors.js';
import { assertPlainOvfXml } from './ovf-xml-guard.js';
import type { ControllerKind, OvfDisk, OvfFile, OvfNic, OvfVm } from './ovf-types.js';

type Node = Record<string, unknown>;

const RT_CPU = 3;
const RT_MEMORY = 4;
const RT_IDE = 5;
const RT_SCSI = 6;
const RT_ETHERNET = 10;
const RT_DISK = 17;
const RT_OTHER_STORAGE = 20;
const RT_SATA = 20;

/** KVM's vCPU limit on x86 (KVM_MAX_VCPUS); libvirt refuses more anyway. */
const MAX_VCPUS = 4096;
/** Bytes are JS numbers: sizes beyond 2^53 (8 PiB) are not exact, and no real disk is that big. */
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

function list(v: unknown): Node[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]) as Node[];
}

/** Text content of an element that may be a plain value or {#text, attributes}; the first of repeats. */
function text(v: unknown): string | undefined {
  if (Array.isArray(v)) return text(v[0]);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const t = (v as Node)['#text'];
    return t === undefined ? undefined : String(t).trim();
  }
  return String(v).trim();
}

function attr(n: Node | undefined, name: string): string | undefined {
  const v = typeof n === 'object' && n !== null ? n[`@_${name}`] : undefined;
  return v === undefined ? undefined : String(v);
}

/** An attribute or element value quoted for a message: short, one line. */
function quote(v: string): string {
  const s = v.replace(/[\u0000-\u001f\u007f"]/g, '?');
  return `"${s.length > 64 ? `${s.slice(0, 64)}...` : s}"`;
}

/** `<Disk ovf:diskId="vmdisk1">`: the element as the user finds it in the descriptor. */
function element(tag: string, n: Node | undefined, ...attrs: string[]): string {
  const shown = attrs.flatMap((a) => (attr(n, a) !== undefined ? [` ovf:${a}=${quote(attr(n, a)!)}`] : []));
  return `<${tag}${shown.join('')}>`;
}

/** "byte * 2^30", "MegaBytes", "byte*1024" -> multiplier; undefined when not understood. */
function unitsMultiplier(units: string): number | undefined {
  const u = units.replace(/\s+/g, '').toLowerCase();
  const named: Record<string, number> = { byte: 1, bytes: 1, kilobytes: 2 ** 10, megabytes: 2 ** 20, gigabytes: 2 ** 30, terabytes: 2 ** 40 };
  if (Object.hasOwn(named, u)) return named[u];
  const m = /^byte(?:\*(\d{1,6})\^(\d{1,6})|\*(\d{1,20}))?$/.exec(u);
  if (!m) return undefined;
  if (m[1]) return Number(m[1]) ** Number(m[2]);
  if (m[3]) return Number(m[3]);
  return 1;
}

/** "byte * 2^30", "MegaBytes", "byte*1024" -> multiplier. */
export function allocationUnits(units: string | undefined): number {
  if (!units) return 1;
  const m = unitsMultiplier(units);
  if (m === undefined)
    throw new H2kError(`unknown allocation units '${units}'`, { code: 'E_OVF_INVALID', hint: 'the OVF descriptor is invalid; re-export the VM' });
  return m;
}

function controllerKind(item: Node): ControllerKind {
  const type = Number(text(item.ResourceType));
  const sub = (text(item.ResourceSubType) ?? '').toLowerCase();
  if (type === RT_IDE) return 'ide';
  if (type === RT_SCSI) return 'scsi';
  if (type === RT_SATA || type === RT_OTHER_STORAGE) {
    if (sub.includes('nvme')) return 'nvme';
    if (sub.includes('ahci') || sub.includes('sata')) return 'sata';
    return 'other';
  }
  return 'other';
}

/** VirtualBox: <Firmware type="EFI"/> inside its Machine section (any depth, bounded walk). */
function hasVirtualBoxEfi(vs: Node): boolean {
  const stack: unknown[] = [vs];
  for (let seen = 0; stack.length > 0 && seen < 100_000; seen++) {
    const n = stack.pop();
    if (Array.isArray(n)) for (const x of n) stack.push(x);
    else if (n && typeof n === 'object')
      for (const [k, v] of Object.entries(n as Node)) {
        if (k === 'Firmware' && list(v).some((f) => (attr(f, 'type') ?? '').toUpperCase().startsWith('EFI'))) return true;
        if (!k.startsWith('@_') && typeof v === 'object') stack.push(v);
      }
  }
  return false;
}

/** Parses an OVF descriptor; `file` is its path (or "<ova>/<member>"), named by every error. */
export function parseOvf(xml: string, file: string): OvfVm {
  const where = basename(file);
  const bad = (message: string, hint = 'the OVF descriptor is invalid; re-export the VM'): H2kError =>
    new H2kError(`${where}: ${message}`, { code: 'E_OVF_INVALID', file, hint });
  /** A whole number of bytes (or of units) in an attribute or element: digits only. */
  const count = (v: string | undefined, what: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = /^\s*\d{1,20}\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw bad(`${what} is ${quote(v)}, not a whole number`);
    return n;
  };
  const bytes = (quantity: number, units: string | undefined, what: string): number => {
    const mult = units === undefined ? 1 : unitsMultiplier(units);
    if (mult === undefined) throw bad(`${what} has unknown allocation units ${quote(units!)}`);
    const b = quantity * mult;
    if (!(b > 0)) throw bad(`${what} is zero`);
    if (!Number.isSafeInteger(b)) throw bad(`${what} is ${quantity} x ${units}, beyond the 8 PiB h2k handles`);
    return b;
  };

  assertPlainOvfXml(xml, file);
  // No DTD reaches the parser (checked above); its own entity limits are a second wall.
  const parser = new XMLParser({
    ignoreAttributes: false,
    removeNSPrefix: true,
    attributeNamePrefix: '@_',
    parseTagValue: false,
    processEntities: { enabled: true, maxEntityCount: 1, maxEntitySize: 1, maxExpansionDepth: 1 },
    htmlEntities: false,
  });
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (err) {
    throw new H2kError(`${where} is not well-formed XML: ${(err as Error).message}`, {
      code: 'E_OVF_INVALID',
      file,
      cause: err,
      hint: 'the descriptor is damaged or not an OVF; re-export the VM',
    });
  }
  const envelope = list(doc.Envelope)[0];
  if (!envelope || typeof envelope !== 'object') throw bad('no <Envelope> element: this is not an OVF descriptor');

  const files = new Map<string, OvfFile>();
  for (const f of list(list(envelope.References)[0]?.File)) {
    const el = element('File', f, 'id', 'href');
    const id = attr(f, 'id');
    const href = attr(f, 'href');
    if (!id || !href) throw bad(`${el} in <References> lacks ${id ? 'ovf:href' : 'ovf:id'}`);
    if (files.has(id)) throw bad(`${el}: a second <File> with the same ovf:id`);
    const compression = attr(f, 'compression');
    if (compression !== undefined && compression !== 'gzip' && compression !== 'identity')
      throw new H2kError(`${where}: ${el} has ovf:compression=${quote(compression)}; h2k reads gzip-compressed or uncompressed files`, {
        code: 'E_UNSUPPORTED',
        file,
        hint: 're-export the VM without compression or with gzip',
      });
    files.set(id, {
      id,
      href,
      size: count(attr(f, 'size'), `${el} ovf:size`),
      compression,
      chunkSize: count(attr(f, 'chunkSize'), `${el} ovf:chunkSize`),
    });
  }

  const diskDefs = new Map<string, { file: OvfFile; capacityBytes: number; format?: string }>();
  const diskIds = new Set<string>();
  for (const d of list(list(envelope.DiskSection)[0]?.Disk)) {
    const el = element('Disk', d, 'diskId');
    const diskId = attr(d, 'diskId');
    if (!diskId) throw bad(`${element('Disk', d, 'fileRef', 'capacity')} in <DiskSection> lacks ovf:diskId`);
    if (diskIds.has(diskId)) throw bad(`${el}: a second <Disk> with the same ovf:diskId`);
    diskIds.add(diskId);
    const fileRef = attr(d, 'fileRef');
    if (!fileRef) continue; // a blank disk to be created: nothing to convert
    const file = files.get(fileRef);
    if (!file) throw bad(`${el} refers to unknown file ovf:fileRef=${quote(fileRef)} (no <File> with that ovf:id in <References>)`);
    const capacity = count(attr(d, 'capacity'), `${el} ovf:capacity`);
    if (capacity === undefined) throw bad(`${el} has no ovf:capacity`);
    const capacityBytes = bytes(capacity, attr(d, 'capacityAllocationUnits'), `${el} ovf:capacity`);
    diskDefs.set(diskId, { file, capacityBytes, format: attr(d, 'format') });
  }

  const vs = list(envelope.VirtualSystem)[0] ?? list(list(envelope.VirtualSystemCollection)[0]?.VirtualSystem)[0];
  if (!vs || typeof vs !== 'object') throw bad('no <VirtualSystem> element (directly or in a <VirtualSystemCollection>)');
  const name = text(vs.Name) || attr(vs, 'id') || 'vm';
  const hw = list(vs.VirtualHardwareSection).filter((s) => typeof s === 'object');
  const items = hw.flatMap((s) => [...list(s.Item), ...list(s.StorageItem), ...list(s.EthernetPortItem)]).filter((i) => typeof i === 'object');

  let vcpus = 1;
  let memoryBytes: number | undefined;
  const controllers = new Map<string, { kind: ControllerKind; index: number }>();
  const diskItems: Array<{ item: Node; order: number }> = [];
  const nics: OvfNic[] = [];
  items.forEach((item, order) => {
    const type = Number(text(item.ResourceType));
    const el = `<Item> with ResourceType ${type}${text(item.InstanceID) ? ` (InstanceID ${quote(text(item.InstanceID)!)})` : ''}`;
    if (type === RT_CPU) {
      const n = count(text(item.VirtualQuantity), `${el} VirtualQuantity`) ?? 1;
      if (n < 1 || n > MAX_VCPUS) throw bad(`${el} asks for ${n} vCPUs; KVM runs 1 to ${MAX_VCPUS}`);
      vcpus = n;
    } else if (type === RT_MEMORY) {
      const q = count(text(item.VirtualQuantity), `${el} VirtualQuantity`);
      if (q === undefined) throw bad(`${el} has no VirtualQuantity (the memory size)`);
      memoryBytes = bytes(q, text(item.AllocationUnits) ?? 'byte * 2^20', `${el} VirtualQuantity (the memory size)`);
    } else if (type === RT_IDE || type === RT_SCSI || type === RT_OTHER_STORAGE) {
      const id = text(item.InstanceID);
      if (id) controllers.set(id, { kind: controllerKind(item), index: controllers.size });
    } else if (type === RT_DISK) diskItems.push({ item, order });
    else if (type === RT_ETHERNET)
      nics.push({
        name: text(item.ElementName) || `nic${nics.length}`,
        network: text(item.Connection) || 'default',
        model: text(item.ResourceSubType),
        mac: text(item.Address),
      });
  });
  if (memoryBytes === undefined) memoryBytes = 1024 * 2 ** 20; // no memory item: 1 GiB

  const disks: Array<OvfDisk & { order: number }> = [];
  for (const { item, order } of diskItems) {
    const host = text(item.HostResource) ?? '';
    const m = /^ovf:\/(disk|file)\/(.+)$/.exec(host);
    if (!m) continue; // an empty drive
    const el = `<Item> with ResourceType ${RT_DISK}`;
    const def = m[1] === 'disk' ? diskDefs.get(m[2]) : undefined;
    const file = def?.file ?? (m[1] === 'file' ? files.get(m[2]) : undefined);
    if (!file) throw bad(`${el} refers to unknown ${m[1]} ${host}`);
    if (disks.some((d) => d.diskId === m[2])) throw bad(`${el} attaches ${host} a second time`);
    const unit = count(text(item.AddressOnParent), `${el} (${host}) AddressOnParent`) ?? 0;
    const ctrl = controllers.get(text(item.Parent) ?? '');
    disks.push({
      diskId: m[2],
      file,
      capacityBytes: def?.capacityBytes ?? file.size ?? 0,
      format: def?.format,
      controller: ctrl?.kind ?? 'other',
      controllerIndex: ctrl?.index ?? Number.MAX_SAFE_INTEGER,
      unit,
      order,
    });
  }
  // Disks defined in DiskSection but attached by no item still convert, after the others.
  for (const [diskId, def] of diskDefs)
    if (!disks.some((d) => d.diskId === diskId))
      disks.push({ diskId, ...def, controller: 'other', controllerIndex: Number.MAX_SAFE_INTEGER, unit: 0, order: Number.MAX_SAFE_INTEGER });
  disks.sort((a, b) => a.controllerIndex - b.controllerIndex || a.unit - b.unit || a.order - b.order);

  const osSection = list(vs.OperatingSystemSection)[0];
  const efi = hw.some(
    (section) =>
      list(section.Config).some((cfg) => attr(cfg, 'key') === 'firmware' && (attr(cfg, 'value') ?? '').toLowerCase() === 'efi') ||
      /efi/i.test(text(list(section.System)[0]?.VirtualSystemType) ?? ''),
  );
  return {
    name,
    vcpus,
    memoryBytes,
    firmware: efi || hasVirtualBoxEfi(vs) ? 'efi' : 'bios',
    osType: attr(osSection, 'osType') ?? text(osSection?.Description),
    disks: disks.map(({ order: _order, ...d }) => d),
    nics,
    files: [...files.values()],
  };
}
