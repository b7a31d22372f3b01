// `virt-xml-validate <file> domain` (libvirt-clients), when installed: checks a domain XML
// against libvirt's own schema.
import { execFile } from 'node:child_process';

export interface XmlValidation {
  /** false: virt-xml-validate is not installed; nothing was verified. */
  ran: boolean;
  passed: boolean;
  detail: string;
}

export function virtXmlValidate(path: string, signal?: AbortSignal): Promise<XmlValidation> {
  return new Promise((resolvePromise, reject) => {
    execFile('virt-xml-validate', [path, 'domain'], { signal, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim().split('\n').slice(-3).join(' ');
      if (!err) return resolvePromise({ ran: true, passed: true, detail: out || 'validates' });
      const e = err as NodeJS.ErrnoException & { code?: string | number };
      if (e.code === 'ENOENT') return resolvePromise({ ran: false, passed: false, detail: 'virt-xml-validate not installed (libvirt-clients)' });
      if (typeof e.code === 'number') return resolvePromise({ ran: true, passed: false, detail: out || `exit ${e.code}` });
      reject(err);
    });
  });
}
