// Lists an initramfs image's files on the host: the image is a chain of cpio "newc" archives (an
// uncompressed early-microcode one first on many distributions), the last one usually compressed.
// Listing it here instead of running lsinitrd/lsinitramfs inside the TCG appliance saves tens of seconds.
import { spawn } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { findExecutable } from '../util/find-executable.js';

const NEWC = ['070701', '070702'];
/**
 * The most an image may unpack to here (real ones: tens to a few hundred MiB). The image comes
 * from the guest, which may be hostile: past this the listing stops and the caller lists it in
 * the appliance instead, where a bomb only costs the appliance.
 */
export const MAX_INITRAMFS_PLAIN_BYTES = 1024 * 1024 * 1024;
const HEADER = 110;

/** Compressions by magic; gzip is node's own, the rest need the host's decompressor. */
const COMPRESSIONS: { name: string; magic: number[]; program?: [string, ...string[]] }[] = [
  { name: 'gzip', magic: [0x1f, 0x8b] },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], program: ['zstd', '-dcq'] },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], program: ['xz', '-dc'] },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], program: ['lz4', '-dc'] },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], program: ['bzip2', '-dc'] },
  { name: 'lzma', magic: [0x5d, 0x00, 0x00], program: ['xz', '--format=lzma', '-dc'] },
];

const align4 = (n: number) => (n + 3) & ~3;

/** Names of one cpio newc archive from `start`; returns the offset after its TRAILER!!! entry. */
export function readCpio(data: Buffer, start: number, names: string[]): number {
  let at = start;
  for (;;) {
    if (at + HEADER > data.length) throw new Error(`initramfs: cpio archive truncated at byte ${at}`);
    const magic = data.toString('latin1', at, at + 6);
    if (!NEWC.includes(magic)) throw new Error(`initramfs: bad cpio header at byte ${at}`);
    const field = (i: number) => parseInt(data.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const fileSize = field(6);
    const nameSize = field(11);
    if (!Number.isFinite(fileSize) || !Number.isFinite(nameSize) || nameSize < 1) throw new Error(`initramfs: bad cpio header at byte ${at}`);
    const name = data.toString('utf8', at + HEADER, at + HEADER + nameSize - 1);
    at = align4(at + HEADER + nameSize);
    if (name === 'TRAILER!!!') return at;
    if (name !== '.') names.push(name.replace(/^\.?\//, ''));
    at = align4(at + fileSize);
    if (at > data.length) throw new Error(`initramfs: cpio entry ${name} runs past the end of the image`);
  }
}

async function decompress(data: Buffer, program: [string, ...string[]], name: string, maxBytes: number): Promise<Buffer> {
  const [cmd, ...args] = program;
  if (!findExecutable(cmd)) throw new Error(`initramfs: ${name}-compressed image and no ${cmd} on the host`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= maxBytes) return void out.push(b);
      child.kill('SIGKILL');
      reject(new Error(`initramfs: the ${name}-compressed image unpacks to more than ${maxBytes} bytes`));
    });
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4096)));
    child.on('error', reject);
    child.stdin.on('error', () => {}); // an early exit is reported by 'close'
    child.on('close', (code) =>
      code === 0 || (out.length && /trailing garbage|unexpected end/i.test(err))
        ? resolve(Buffer.concat(out))
        : reject(new Error(`initramfs: ${cmd} failed (${code}): ${err.trim()}`)));
    child.stdin.end(data);
  });
}

function gunzipBounded(data: Buffer, maxBytes: number): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (err) {
    if (err instanceof RangeError) throw new Error(`initramfs: the gzip-compressed image unpacks to more than ${maxBytes} bytes`);
    throw err;
  }
}

/**
 * Reads the uncompressed cpio archives at the start of `data` (zero padding between them skipped),
 * their names into `names`; returns where the rest begins (a compressed archive) or data.length.
 */
function readPlainArchives(data: Buffer, names: string[]): number {
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) { at++; continue; } // padding between concatenated archives
    if (!NEWC.includes(data.toString('latin1', at, at + 6))) break;
    at = readCpio(data, at, names);
  }
  return at;
}

const compressionOf = (rest: Buffer) => COMPRESSIONS.find((x) => x.magic.every((b, i) => rest[i] === b));

/**
 * How the image's last archive is compressed: a name of COMPRESSIONS, 'none' when the image is
 * cpio archives only, null when its content is none of these.
 */
export function initramfsCompression(data: Buffer): string | null {
  const at = readPlainArchives(data, []);
  return at >= data.length ? 'none' : compressionOf(data.subarray(at))?.name ?? null;
}

/** Every path in the image (no leading "./"), one per array element, in archive order. */
export async function listInitramfs(data: Buffer, depth = 0, maxPlainBytes = MAX_INITRAMFS_PLAIN_BYTES): Promise<string[]> {
  const names: string[] = [];
  const at = readPlainArchives(data, names);
  if (at >= data.length) return names;
  const rest = data.subarray(at);
  const c = compressionOf(rest);
  if (!c || depth > 1) throw new Error(`initramfs: unknown content at byte ${at} (not cpio newc or a known compression)`);
  // the compressed part runs to the end of the image (trailing padding is the decompressor's to ignore)
  const plain = c.program ? await decompress(rest, c.program, c.name, maxPlainBytes) : gunzipBounded(rest, maxPlainBytes);
  names.push(...(await listInitramfs(plain, depth + 1, maxPlainBytes)));
  return names;
}
