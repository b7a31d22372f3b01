// Lists the members of an OVA (a ustar archive) and reads small ones (the .ovf, the .mf)
// without extracting anything; disks are opened in place by the native reader through
// "<archive>/<member>" paths.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { H2kError } from '../util/errors.js';

export interface OvaMember {
  name: string;
  offset: number;
  size: number;
}

const BLOCK = 512;
const MAX_SMALL_MEMBER = 16 * 1024 * 1024;

function parseNumber(field: Buffer): number {
  if (field[0] & 0x80) {
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v + (field[0] & 0x3f) * 256 ** (field.length - 1);
  }
  const s = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
}

export function isOva(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(BLOCK);
    return readSync(fd, h, 0, BLOCK, 0) === BLOCK && h.toString('latin1', 257, 262) === 'ustar';
  } finally {
    closeSync(fd);
  }
}

export function listOvaMembers(path: string): OvaMember[] {
  const fd = openSync(path, 'r');
  const members: OvaMember[] = [];
  try {
    const fileSize = fstatSync(fd).size;
    let pos = 0;
    let nextName: string | undefined;
    let nextSize: number | undefined;
    const h = Buffer.alloc(BLOCK);
    while (readSync(fd, h, 0, BLOCK, pos) === BLOCK) {
      if (h.every((b) => b === 0)) break;
      if (h.toString('latin1', 257, 262) !== 'ustar' && members.length === 0 && pos === 0)
        throw new H2kError(`${path} is not a tar (OVA) archive`, { code: 'E_OVA_BAD_TAR', file: path, offset: 0 });
      let size = nextSize ?? parseNumber(h.subarray(124, 136));
      if (!Number.isSafeInteger(size) || size < 0)
        throw new H2kError(`bad tar size field at offset ${pos} of ${path}`, { code: 'E_OVA_BAD_TAR', file: path, offset: pos });
      const type = String.fromCharCode(h[156]);
      const dataAt = pos + BLOCK;
      // Every member lies within the archive: a larger size is a damaged or truncated tar.
      if (dataAt + size > fileSize)
        throw new H2kError(`the tar member at offset ${pos} of ${path} claims ${size} bytes, past the end of the archive (${fileSize} bytes)`, {
          code: 'E_OVA_BAD_TAR',
          file: path,
          offset: pos,
          hint: 'the archive is truncated or damaged; copy or export it again',
        });
      if (type === 'x' || type === 'L') {
        const text = readRange(fd, dataAt, Math.min(size, 1 << 20)).toString('utf8');
        if (type === 'L') nextName = cString(Buffer.from(text));
        else
          for (const rec of text.split('\n')) {
            const m = /^\d+ (path|size)=(.*)$/.exec(rec);
            if (m?.[1] === 'path') nextName = m[2];
            if (m?.[1] === 'size') nextSize = Number(m[2]);
          }
      } else {
        if (type === '0' || h[156] === 0) {
          const prefix = cString(h.subarray(345, 500));
          const name = nextName ?? (prefix ? `${prefix}/${cString(h.subarray(0, 100))}` : cString(h.subarray(0, 100)));
          members.push({ name, offset: dataAt, size });
        }
        nextName = undefined;
        nextSize = undefined;
      }
      size = Math.ceil(size / BLOCK) * BLOCK;
      pos = dataAt + size;
    }
  } finally {
    closeSync(fd);
  }
  return members;
}

function readRange(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const n = readSync(fd, b, 0, length, offset);
  return b.subarray(0, n);
}

/** The bytes of a small member (.ovf, .mf); large members are refused. */
export function readOvaMember(path: string, member: OvaMember): Buffer {
  if (member.size > MAX_SMALL_MEMBER)
    throw new H2kError(`${member.name} in ${path} is larger than 16 MiB`, {
      code: 'E_OVF_TOO_LARGE', // the same verdict as the native reader's (ovf_guard.cpp)
      file: `${path}/${member.name}`,
      hint: 'the archive is not an OVA as exporters write it; re-export the VM',
    });
  const fd = openSync(path, 'r');
  try {
    const b = readRange(fd, member.offset, member.size);
    if (b.length !== member.size)
      throw new H2kError(`${member.name} runs past the end of ${path}`, { code: 'E_TRUNCATED', file: path, offset: member.offset });
    return b;
  } finally {
    closeSync(fd);
  }
}
