// The format of an image, read by h2k's own native detection (no qemu-img at run time), so
// libguestfs never has to guess (probing raw is unsafe). Images that read through a parent
// or backing file are refused: a fix would land in the child only.
import { loadAddon } from '../native/addon.js';
import { H2kError, toH2kError } from '../util/errors.js';

// h2k's format names -> libguestfs/qemu driver names.
const GUESTFS_FORMAT: Record<string, string> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vdi: 'vdi', vhd: 'vpc', vhdx: 'vhdx' };

export async function detectImageFormat(image: string, signal?: AbortSignal): Promise<string> {
  if (signal?.aborted) throw new H2kError('cancelled', { code: 'E_CANCELLED', file: image });
  const addon = loadAddon();
  let format: string;
  try {
    format = addon.detectFormat(image);
  } catch (err) {
    throw toH2kError(err);
  }
  const guestfsFormat = GUESTFS_FORMAT[format];
  if (!guestfsFormat)
    throw new H2kError(`unsupported image format for guest tools: ${format}`, {
      code: 'E_UNSUPPORTED', file: image, hint: 'convert it to qcow2 or raw first (h2k convert)',
    });
  if (format !== 'raw') {
    let props: Record<string, string>;
    try {
      props = (await addon.imageInfo(image, { format })).properties;
    } catch (err) {
      throw toH2kError(err);
    }
    if (props.backingFile || props.parent)
      throw new H2kError('images with a backing file are not fixed in place', {
        code: 'E_UNSUPPORTED', file: image, hint: 'convert to a standalone qcow2/raw first (h2k convert)',
      });
  }
  return guestfsFormat;
}
