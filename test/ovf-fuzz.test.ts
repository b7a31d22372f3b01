// Bounded, seeded fuzzing of the two TypeScript readers of untrusted appliance bytes: the OVF
// parser and the OVA tar lister. Valid inputs are mutated (byte flips, truncations, duplicated
// and removed elements, huge numbers, weird allocation units, entity and DOCTYPE injections,
// damaged tar headers); each result must be well formed or an H2kError with a code — never
// another exception, never a hang (every case is timed). The native tar index has its own
// libFuzzer target (native/fuzz/fuzz_ova.cpp).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listOvaMembers } from '../src/ovf/ova-members.js';
import type { OvfVm } from '../src/ovf/ovf-types.js';
import { parseOvf } from '../src/ovf/parse-ovf.js';
import { H2kError } from '../src/util/errors.js';
import { writeTar } from './helpers/formats-fixtures.js';
import { vmwareOvf } from './helpers/ovf-samples.js';

/** mulberry32: a small seeded PRNG, so a failure replays from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const virtualBoxOvf = `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
    <File ovf:id="file1" ovf:href="vbox-disk001.vmdk"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="10737418240" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystemCollection ovf:id="coll">
  <VirtualSystem ovf:id="vbox &amp; co">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="96"><Info>x</Info><Description>Debian_64</Description></OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <Item><rasd:ElementName>2 virtual CPU</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>1</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Connection>NAT</rasd:Connection><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
    <vbox:Machine ovf:required="false"><Hardware><Firmware type="EFI"/></Hardware><!-- <Firmware type="BIOS"/> & <![CDATA[ & ]]> --></vbox:Machine>
  </VirtualSystem>
  </VirtualSystemCollection>
</Envelope>
`;

const SEEDS = [
  vmwareOvf({
    name: 'fuzz vm',
    vcpus: 4,
    memoryMiB: 4096,
    efi: true,
    disks: [
      { href: 'a.vmdk', capacityGiB: 20, controller: 'scsi', unit: 0, size: 123456, gzip: true },
      { href: 'b.vmdk', capacityBytes: 1048576, controller: 'ide', unit: 1 },
      { href: 'c.vmdk', capacityGiB: 1, controller: 'sata', unit: 0 },
    ],
    nics: [{ network: 'VM Network', model: 'VmxNet3', mac: '00:50:56:aa:bb:cc' }],
  }),
  virtualBoxOvf,
  `<Envelope><References><File ovf:id="f" ovf:href="d.img"/></References><VirtualSystem ovf:id="min"><VirtualHardwareSection><Item><rasd:HostResource>ovf:/file/f</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item></VirtualHardwareSection></VirtualSystem></Envelope>`,
];

const HUGE = ['99999999999999999999999', '1e308', '-1', '0', 'NaN', 'Infinity', '18446744073709551616', '9007199254740993', ' 7 ', '0x10', ''];
const UNITS = ['byte * 2^80', 'byte * 2^1000000', 'byte*0', 'byte * 10^-3', 'ZettaBytes', 'byte * 2^', 'constructor', '__proto__', 'byte * 2^62', 'hertz * 10^6'];
const INJECT = [
  '<!DOCTYPE Envelope [<!ENTITY a "aaaa">]>',
  '<!ENTITY x SYSTEM "file:///etc/passwd">',
  '&undefined;',
  '&#x41;&amp;&lt;',
  '&',
  '<![CDATA[ <Item> & ]]>',
  '<!-- <!DOCTYPE x> -->',
  '<?pi x?>',
  '<__proto__><constructor/></__proto__>',
  '<Item><rasd:ResourceType>17</rasd:ResourceType><rasd:HostResource>ovf:/disk/nope</rasd:HostResource></Item>',
  '<Item><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity><rasd:AllocationUnits>byte * 2^80</rasd:AllocationUnits></Item>',
  '<a>'.repeat(300),
];

function pick<T>(r: () => number, xs: T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function mutate(xml: string, r: () => number): string {
  const at = Math.floor(r() * (xml.length + 1));
  const lines = xml.split('\n');
  const line = Math.floor(r() * lines.length);
  switch (Math.floor(r() * 9)) {
    case 0: // byte flip
      return xml.slice(0, at) + String.fromCharCode(Math.floor(r() * 256)) + xml.slice(at + 1);
    case 1: // truncation
      return xml.slice(0, at);
    case 2: // duplicated element (the samples hold one element or item line per line)
      return [...lines.slice(0, line + 1), lines[line], ...lines.slice(line + 1)].join('\n');
    case 3: // removed element
      return [...lines.slice(0, line), ...lines.slice(line + 1)].join('\n');
    case 4: // a number made huge or odd
      return xml.replace(/>(\d+)</g, (m, _d, off: number) => (off >= at && r() < 0.5 ? `>${pick(r, HUGE)}<` : m));
    case 5: // an attribute number made huge or odd
      return xml.replace(/="(\d+)"/g, (m, _d, off: number) => (off >= at && r() < 0.5 ? `="${pick(r, HUGE)}"` : m));
    case 6: // weird allocation units
      return xml.replace(/(AllocationUnits="|AllocationUnits>)[^"<]*/g, (m, p: string) => (r() < 0.7 ? `${p}${pick(r, UNITS)}` : m));
    case 7: // injected markup or references
      return xml.slice(0, at) + pick(r, INJECT) + xml.slice(at);
    default: // a duplicated span of text
      return xml.slice(0, at) + xml.slice(Math.floor(r() * at), at) + xml.slice(at);
  }
}

function expectWellFormed(vm: OvfVm): void {
  expect(typeof vm.name === 'string' && vm.name.length > 0).toBe(true);
  expect(Number.isSafeInteger(vm.vcpus) && vm.vcpus >= 1 && vm.vcpus <= 4096).toBe(true);
  expect(Number.isSafeInteger(vm.memoryBytes) && vm.memoryBytes > 0).toBe(true);
  expect(['bios', 'efi']).toContain(vm.firmware);
  for (const d of vm.disks) {
    expect(typeof d.file.href === 'string' && d.file.href.length > 0).toBe(true);
    expect(Number.isSafeInteger(d.capacityBytes) && d.capacityBytes >= 0).toBe(true);
    expect(Number.isSafeInteger(d.unit) && d.unit >= 0).toBe(true);
    expect(['ide', 'scsi', 'sata', 'nvme', 'other']).toContain(d.controller);
    if (d.file.size !== undefined) expect(Number.isSafeInteger(d.file.size)).toBe(true);
  }
  expect(new Set(vm.disks.map((d) => d.diskId)).size).toBe(vm.disks.length);
  for (const n of vm.nics) expect(typeof n.name === 'string' && typeof n.network === 'string').toBe(true);
}

/**
 * Runs one input: a well-formed VM or an H2kError with a code; anything else fails with the seed.
 * `limitMs` catches a hang or a quadratic scan, not slowness: a quadratic pass over the 4 MiB
 * inputs below takes hours, so their limit leaves room for a loaded 2-core CI machine (7 s seen at load 8).
 */
function check(input: () => unknown, validate: (v: never) => void, label: string, limitMs = 2000): 'ok' | 'refused' {
  const t0 = performance.now();
  let outcome: 'ok' | 'refused';
  try {
    validate(input() as never);
    outcome = 'ok';
  } catch (err) {
    if (!(err instanceof H2kError) || !/^E_[A-Z0-9_]+$/.test(err.code)) throw new Error(`${label}: ${String(err)}`, { cause: err });
    outcome = 'refused';
  }
  const ms = performance.now() - t0;
  if (ms > limitMs) throw new Error(`${label}: took ${ms.toFixed(0)} ms (limit ${limitMs} ms)`);
  return outcome;
}

describe('parseOvf under seeded mutations', () => {
  it('the seeds parse', () => {
    for (const s of SEEDS) expectWellFormed(parseOvf(s, 'seed.ovf'));
    const vbox = parseOvf(virtualBoxOvf, 'vbox.ovf');
    expect(vbox.firmware).toBe('efi');
    expect(vbox.name).toBe('vbox & co');
    expect(vbox.memoryBytes).toBe(2048 * 2 ** 20);
  });

  it('4000 mutated descriptors: a well-formed VM or an H2kError with a code, each within 2 s', () => {
    const tally = { ok: 0, refused: 0 };
    const started = Date.now();
    for (let seed = 1; seed <= 4000; seed++) {
      const r = rng(seed);
      let xml = SEEDS[seed % SEEDS.length];
      const rounds = 1 + Math.floor(r() * 4);
      for (let i = 0; i < rounds; i++) xml = mutate(xml, r);
      tally[check(() => parseOvf(xml, 'fuzz.ovf'), expectWellFormed, `seed ${seed}`)]++;
    }
    // Both outcomes occur: the mutations neither all break nor all miss the parser.
    expect(tally.ok).toBeGreaterThan(100);
    expect(tally.refused).toBeGreaterThan(100);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('large adversarial descriptors stay linear (no quadratic scans)', () => {
    const inputs = [
      // 4 MiB of unclosed <Firmware in a comment: the old EFI regex over the raw text was quadratic here.
      `<Envelope><VirtualSystem><Name>x</Name><!-- ${'<Firmware '.repeat(400_000)} --></VirtualSystem></Envelope>`,
      `<Envelope>${'<a>'.repeat(1_000_000)}&amp;</Envelope>`,
      `<Envelope><Name>${'&amp;'.repeat(1_000_000)}</Name></Envelope>`,
      `<Envelope>${'<'.repeat(2_000_000)}`,
      `<Envelope><!-- ${'-'.repeat(4_000_000)}`,
      `<Envelope>${'<Item>'.repeat(200_000)}${'</Item>'.repeat(200_000)}</Envelope>`,
    ];
    for (const [i, xml] of inputs.entries()) check(() => parseOvf(xml, 'big.ovf'), expectWellFormed, `large input ${i}`, 30_000);
    expect(() => parseOvf('x'.repeat(16 * 1024 * 1024 + 1), 'big.ovf')).toThrowError(expect.objectContaining({ code: 'E_OVF_TOO_LARGE' }));
  });
});

describe('listOvaMembers under damaged tar headers', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'h2k-tarfuzz-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('1500 mutated archives: members within the file or an H2kError with a code', () => {
    const base = join(dir, 'base.ova');
    writeTar(base, [
      { name: 'vm.ovf', data: Buffer.from(SEEDS[0]) },
      { name: 'vm.mf', data: Buffer.from('SHA256(vm.ovf)= 00\n') },
      { name: 'disk1.vmdk', data: Buffer.alloc(5000, 7) },
      { name: 'disk2.vmdk', data: Buffer.alloc(700, 9) },
    ]);
    const good = listOvaMembers(base);
    expect(good.map((m) => m.name)).toEqual(['vm.ovf', 'vm.mf', 'disk1.vmdk', 'disk2.vmdk']);
    const original = readFileSync(base);
    const headers = good.map((m) => m.offset - 512);
    const path = join(dir, 'fuzz.ova');
    const tally = { ok: 0, refused: 0 };
    for (let seed = 1; seed <= 1500; seed++) {
      const r = rng(seed);
      let b = Buffer.from(original);
      const h = pick(r, headers);
      switch (Math.floor(r() * 7)) {
        case 0: // random bytes in a header
          for (let i = 0; i < 1 + r() * 8; i++) b[h + Math.floor(r() * 512)] = Math.floor(r() * 256);
          break;
        case 1: // an octal size field: huge, empty or garbage
          b.write(pick(r, ['77777777777\0', '00000000000\0', '99999999999\0', '           \0', '-0000000001\0']), h + 124, 'latin1');
          break;
        case 2: // a base-256 (GNU) size field
          b[h + 124] = 0x80 | Math.floor(r() * 128);
          for (let i = 125; i < 136; i++) b[h + i] = Math.floor(r() * 256);
          break;
        case 3: // a pax header claiming a size and a path
          b[h + 156] = 'x'.charCodeAt(0);
          b.write(`${pick(r, ['30 size=99999999999999999999\n', '12 size=-5\n', '14 size=NaN\n', '20 path=../../etc\n'])}`, h + 512, 'latin1');
          break;
        case 4: // a GNU long name / other type flags
          b[h + 156] = pick(r, ['L', 'K', '5', '1', '2', '7', 'g', '\0']).charCodeAt(0);
          break;
        case 5: // truncation
          b = b.subarray(0, Math.floor(r() * b.length));
          break;
        default: // the magic
          b.write(pick(r, ['ustaq', 'USTAR', '\0\0\0\0\0']), h + 257, 'latin1');
      }
      writeFileSync(path, b);
      const size = statSync(path).size;
      tally[
        check(
          () => listOvaMembers(path),
          (members: Array<{ name: string; offset: number; size: number }>) => {
            for (const m of members) {
              expect(Number.isSafeInteger(m.offset) && Number.isSafeInteger(m.size) && m.size >= 0).toBe(true);
              expect(m.offset + m.size).toBeLessThanOrEqual(size);
            }
          },
          `tar seed ${seed}`,
        )
      ]++;
    }
    // The native tar index checks each header's checksum, so most header mutations are refused.
    expect(tally.ok).toBeGreaterThan(30);
    expect(tally.refused).toBeGreaterThan(50);
  });
});
