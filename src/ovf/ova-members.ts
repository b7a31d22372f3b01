// The members of an OVA (a ustar archive), as the native tar index lists them, and the bytes of
// small ones (the .ovf, the .mf) without extracting anything; disks are opened in place by the
// native reader through "<archive>/<member>" paths.
import { closeSync, openSync, readSync } from 'node:fs';
import { contentFormat, ovaMembers, type TarMember } from '../native/formats.js';
import { H2kError } from '../util/errors.js';

export type OvaMember = TarMember;

const MAX_SMALL_MEMBER = 16 * 1024 * 1024;

/** The file's content is a tar archive (whatever its name). */
export function isOva(path: string): boolean {
  return contentFormat(path) === 'ova';
}

export const listOvaMembers = ovaMembers;

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
    const b = Buffer.alloc(member.size);
    if (readSync(fd, b, 0, member.size, member.offset) !== member.size)
      throw new H2kError(`${member.name} runs past the end of ${path}`, { code: 'E_TRUNCATED', file: path, offset: member.offset });
    return b;
  } finally {
    closeSync(fd);
  }
}
