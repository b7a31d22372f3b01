// The format of an image as qemu-img sees it, so libguestfs never has to guess (probing raw is unsafe).
import { execFile } from 'node:child_process';
import { H2kError } from '../util/errors.js';

const KNOWN = new Set(['raw', 'qcow2', 'vmdk', 'vdi', 'vpc', 'vhdx']);

export function detectImageFormat(image: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('qemu-img', ['info', '--output=json', image], { signal, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        return reject(new H2kError(missing ? 'qemu-img is not installed' : `cannot read image: ${stderr.trim() || err.message}`, {
          code: missing ? 'E_GUEST_TOOLS_MISSING' : /No such file/.test(stderr) ? 'E_NOT_FOUND' : 'E_UNKNOWN_FORMAT',
          file: image,
          hint: missing ? 'install qemu-utils' : undefined,
        }));
      }
      try {
        const info = JSON.parse(stdout) as { format?: string; 'backing-filename'?: string };
        if (!info.format || !KNOWN.has(info.format))
          return reject(new H2kError(`unsupported image format for guest tools: ${info.format ?? 'unknown'}`, { code: 'E_UNSUPPORTED', file: image }));
        if (info['backing-filename'])
          return reject(new H2kError('images with a backing file are not fixed in place', {
            code: 'E_UNSUPPORTED', file: image, hint: 'convert to a standalone qcow2/raw first (h2k convert)',
          }));
        resolve(info.format);
      } catch (e) {
        reject(new H2kError(`qemu-img info gave unreadable output: ${String(e)}`, { code: 'E_INTERNAL', file: image }));
      }
    });
  });
}
