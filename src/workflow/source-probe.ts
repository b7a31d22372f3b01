// Load stage: the source exists, is readable, and its content matches source_type in a format
// this build can read. Formats without a reader yet fail with E_UNSUPPORTED, never a guess.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { loadAddon, type NativeImageInfo } from '../native/addon.js';
import { H2kError, toH2kError } from '../util/errors.js';
import type { SourceType } from './manifest-schema.js';

export interface SourceProbe {
  detectedFormat: string;
  subformat: string;
  virtualSize: number;
  files: string[];
  /** Format name to hand the conversion engine. */
  engineFormat: string;
  warnings: string[];
}

async function assertReadableFile(path: string, field: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const e = toH2kError(err);
    if (e.code === 'E_NOT_FOUND')
      throw new H2kError(`${field}: source not found: ${path}`, { code: 'E_NOT_FOUND', file: path, hint: 'relative source paths resolve against the manifest\'s directory' });
    throw e;
  }
  if (!st.isFile()) throw new H2kError(`${field}: source is not a regular file: ${path}`, { code: 'E_NOT_FOUND', file: path });
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new H2kError(`${field}: source is not readable: ${path}`, { code: 'E_PERMISSION', file: path, hint: 'check the file permissions' });
  }
}

function isMissingReader(err: H2kError): boolean {
  return err.code === 'E_UNKNOWN_FORMAT' && /unsupported source format/.test(err.message);
}

export async function probeSource(path: string, sourceType: SourceType, field: string): Promise<SourceProbe> {
  await assertReadableFile(path, field);
  const addon = loadAddon();
  const warnings: string[] = [];
  let detected: string;
  try {
    detected = addon.detectFormat(path);
  } catch (err) {
    throw toH2kError(err);
  }
  let format: string | undefined;
  switch (sourceType) {
    case 'vmdk':
      if (detected !== 'vmdk')
        throw new H2kError(`source_type is vmdk but ${path} does not look like a VMDK (detected ${detected})`, {
          code: 'E_FORMAT_MISMATCH', file: path, hint: `set source_type to the real format (${detected}?)`,
        });
      format = 'vmdk';
      break;
    case 'raw':
      if (detected !== 'raw') warnings.push(`content looks like ${detected}; reading it as raw because source_type says so`);
      format = 'raw';
      break;
    case 'ami':
      format = undefined; // AMI exports are raw or VMDK disks: take what the content says.
      break;
    default:
      format = sourceType;
  }
  let info: NativeImageInfo;
  try {
    info = await addon.imageInfo(path, format ? { format } : {});
  } catch (err) {
    const e = toH2kError(err);
    if (isMissingReader(e))
      throw new H2kError(`source_type ${sourceType} is not supported yet: this build has no ${sourceType} reader`, {
        code: 'E_UNSUPPORTED', file: path, hint: 'convert the disk to VMDK or raw first, or wait for a release that reads it',
      });
    throw e;
  }
  return {
    detectedFormat: info.format,
    subformat: info.subformat,
    virtualSize: info.virtualSize,
    files: info.files,
    engineFormat: info.format,
    warnings: [...warnings, ...info.warnings],
  };
}
