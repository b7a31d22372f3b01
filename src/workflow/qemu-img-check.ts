// `qemu-img check` of a finished output, when qemu-img is installed: an independent look at
// qcow2 metadata (refcounts, leaks, corruptions). Raw images have no metadata to check.
import { spawn } from 'node:child_process';

export interface QemuCheckResult {
  /** false: qemu-img is not installed or cannot check this format; nothing was verified. */
  ran: boolean;
  passed: boolean;
  detail: string;
}

const CHECK_TIMEOUT_MS = 30 * 60 * 1000;

export function qemuImgCheck(path: string, format: string, signal?: AbortSignal): Promise<QemuCheckResult> {
  if (format === 'raw') return Promise.resolve({ ran: false, passed: false, detail: 'raw images carry no metadata to check' });
  return new Promise((resolvePromise, reject) => {
    const child = spawn('qemu-img', ['check', '-f', format, '--output=json', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
      timeout: CHECK_TIMEOUT_MS,
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { if (out.length < 1 << 20) out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { if (err.length < 1 << 16) err += d; });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') resolvePromise({ ran: false, passed: false, detail: 'qemu-img not installed' });
      else reject(e);
    });
    child.on('close', (code) => {
      if (code === 63) return resolvePromise({ ran: false, passed: false, detail: `qemu-img cannot check ${format} images` });
      let summary = err.trim();
      try {
        const j = JSON.parse(out) as { 'check-errors'?: number; corruptions?: number; leaks?: number; 'total-clusters'?: number };
        summary = `corruptions ${j.corruptions ?? 0}, leaks ${j.leaks ?? 0}, check errors ${j['check-errors'] ?? 0}`;
      } catch {
        // qemu-img printed no JSON: keep its stderr as the detail.
      }
      resolvePromise({ ran: true, passed: code === 0, detail: code === 0 ? summary : `qemu-img check exit ${code}: ${summary}` });
    });
  });
}
