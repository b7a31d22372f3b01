// OVF descriptor -> OvfVm. fast-xml-parser with namespace prefixes removed, so OVF 1.x and
// 2.x, VMware and VirtualBox exports read the same; RASD items are matched by ResourceType.
import { XMLParser } from 'fast-xml-parser';
import { H2kError } from '../util/errors.js';
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

function list(v: unknown): Node[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]) as Node[];
}

/** Text content of an element that may be a plain value or {#text, attributes}. */
function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const t = (v as Node)['#text'];
    return t === undefined ? undefined : String(t).trim();
  }
  return String(v).trim();
}

function attr(n: Node | undefined, name: string): string | undefined {
  const v = n?.[`@_${name}`];
  return v === undefined ? undefined : String(v);
}

function bad(message: string, hint = 'the OVF descriptor is invalid; re-export the VM'): H2kError {
  return new H2kError(message, { code: 'E_OVF_INVALID', hint });
}

/** "byte * 2^30", "MegaBytes", "byte*1024" -> multiplier. */
export function allocationUnits(units: string | undefined): number {
  if (!units) return 1;
  const u = units.replace(/\s+/g, '').toLowerCase();
  const named: Record<string, number> = { byte: 1, bytes: 1, kilobytes: 2 ** 10, megabytes: 2 ** 20, gigabytes: 2 ** 30, terabytes: 2 ** 40 };
  if (u in named) return named[u];
  const m = /^byte(?:\*(\d+)\^(\d+)|\*(\d+))?$/.exec(u);
  if (!m) throw bad(`unknown allocation units '${units}'`);
  if (m[1]) return Number(m[1]) ** Number(m[2]);
  if (m[3]) return Number(m[3]);
  return 1;
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

function findVirtualSystem(envelope: Node): Node {
  const vs = list(envelope.VirtualSystem)[0];
  if (vs) return vs;
  const coll = list(envelope.VirtualSystemCollection)[0];
  const inner = coll && list(coll.VirtualSystem)[0];
  if (!inner) throw bad('the OVF has no VirtualSystem');
  return inner;
}

function firmwareOf(vs: Node, hw: Node[], xml: string): 'bios' | 'efi' {
  for (const section of hw) {
    for (const cfg of list(section.Config))
      if (attr(cfg, 'key') === 'firmware' && (attr(cfg, 'value') ?? '').toLowerCase() === 'efi') return 'efi';
    const system = list(section.System)[0];
    const vtype = text(system?.VirtualSystemType) ?? '';
    if (/efi/i.test(vtype)) return 'efi';
  }
  // VirtualBox: <Firmware type="EFI"/> inside its Machine section.
  if (/<(?:\w+:)?Firmware\b[^>]*type="EFI/i.test(xml)) return 'efi';
  void vs;
  return 'bios';
}

export function parseOvf(xml: string): OvfVm {
  const parser = new XMLParser({ ignoreAttributes: false, removeNSPrefix: true, attributeNamePrefix: '@_', parseTagValue: false });
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (err) {
    throw new H2kError(`OVF descriptor is not well-formed XML: ${(err as Error).message}`, { code: 'E_OVF_INVALID', cause: err });
  }
  const envelope = list(doc.Envelope)[0];
  if (!envelope) throw bad('the OVF has no Envelope element');

  const files = new Map<string, OvfFile>();
  for (const f of list(list(envelope.References)[0]?.File)) {
    const id = attr(f, 'id');
    const href = attr(f, 'href');
    if (!id || !href) throw bad('a References/File lacks ovf:id or ovf:href');
    files.set(id, {
      id,
      href,
      size: attr(f, 'size') !== undefined ? Number(attr(f, 'size')) : undefined,
      compression: attr(f, 'compression'),
      chunkSize: attr(f, 'chunkSize') !== undefined ? Number(attr(f, 'chunkSize')) : undefined,
    });
  }

  const diskDefs = new Map<string, { file: OvfFile; capacityBytes: number; format?: string }>();
  for (const d of list(list(envelope.DiskSection)[0]?.Disk)) {
    const diskId = attr(d, 'diskId');
    const fileRef = attr(d, 'fileRef');
    if (!diskId) throw bad('a DiskSection/Disk lacks ovf:diskId');
    if (!fileRef) continue; // a blank disk to be created: nothing to convert
    const file = files.get(fileRef);
    if (!file) throw bad(`disk ${diskId} references unknown file '${fileRef}'`);
    const capacity = Number(attr(d, 'capacity'));
    if (!Number.isFinite(capacity) || capacity <= 0) throw bad(`disk ${diskId} has no usable ovf:capacity`);
    diskDefs.set(diskId, { file, capacityBytes: capacity * allocationUnits(attr(d, 'capacityAllocationUnits')), format: attr(d, 'format') });
  }

  const vs = findVirtualSystem(envelope);
  const name = text(vs.Name) ?? attr(vs, 'id') ?? 'vm';
  const hw = list(vs.VirtualHardwareSection);
  const items = hw.flatMap((s) => [...list(s.Item), ...list(s.StorageItem), ...list(s.EthernetPortItem)]);

  let vcpus = 1;
  let memoryBytes = 1024 * 2 ** 20;
  const controllers = new Map<string, { kind: ControllerKind; index: number }>();
  const diskItems: Array<{ item: Node; order: number }> = [];
  const nics: OvfNic[] = [];
  items.forEach((item, order) => {
    const type = Number(text(item.ResourceType));
    if (type === RT_CPU) vcpus = Math.max(1, Number(text(item.VirtualQuantity)) || 1);
    else if (type === RT_MEMORY)
      memoryBytes = (Number(text(item.VirtualQuantity)) || 0) * allocationUnits(text(item.AllocationUnits) ?? 'byte * 2^20');
    else if (type === RT_IDE || type === RT_SCSI || type === RT_OTHER_STORAGE) {
      const id = text(item.InstanceID);
      if (id) controllers.set(id, { kind: controllerKind(item), index: controllers.size });
    } else if (type === RT_DISK) diskItems.push({ item, order });
    else if (type === RT_ETHERNET)
      nics.push({
        name: text(item.ElementName) ?? `nic${nics.length}`,
        network: text(item.Connection) ?? 'default',
        model: text(item.ResourceSubType),
        mac: text(item.Address),
      });
  });
  if (!Number.isFinite(memoryBytes) || memoryBytes <= 0) throw bad('the VM memory size is not a positive number');

  const disks: Array<OvfDisk & { order: number }> = [];
  for (const { item, order } of diskItems) {
    const host = text(item.HostResource) ?? '';
    const m = /^ovf:\/(disk|file)\/(.+)$/.exec(host);
    if (!m) continue;
    const def = m[1] === 'disk' ? diskDefs.get(m[2]) : undefined;
    const file = def?.file ?? (m[1] === 'file' ? files.get(m[2]) : undefined);
    if (!file) throw bad(`disk item '${host}' does not match any Disk or File`);
    const ctrl = controllers.get(text(item.Parent) ?? '');
    disks.push({
      diskId: m[2],
      file,
      capacityBytes: def?.capacityBytes ?? file.size ?? 0,
      format: def?.format,
      controller: ctrl?.kind ?? 'other',
      controllerIndex: ctrl?.index ?? Number.MAX_SAFE_INTEGER,
      unit: Number(text(item.AddressOnParent) ?? 0) || 0,
      order,
    });
  }
  // Disks defined in DiskSection but attached by no item still convert, after the others.
  for (const [diskId, def] of diskDefs)
    if (!disks.some((d) => d.diskId === diskId))
      disks.push({ diskId, ...def, controller: 'other', controllerIndex: Number.MAX_SAFE_INTEGER, unit: 0, order: Number.MAX_SAFE_INTEGER });
  disks.sort((a, b) => a.controllerIndex - b.controllerIndex || a.unit - b.unit || a.order - b.order);

  const osSection = list(vs.OperatingSystemSection)[0];
  return {
    name,
    vcpus,
    memoryBytes,
    firmware: firmwareOf(vs, hw, xml),
    osType: attr(osSection, 'osType') ?? text(osSection?.Description),
    disks: disks.map(({ order: _order, ...d }) => d),
    nics,
    files: [...files.values()],
  };
}
