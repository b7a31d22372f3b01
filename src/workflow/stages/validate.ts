// Validate stage: qemu-img check of every disk, virt-xml-validate of the domain XML, the boot test.
// (The content check ran with the conversion: convert.ts.)
import { bootTest } from '../../guest/index.js';
import { H2kError } from '../../util/errors.js';
import type { Pipeline } from '../manifest-schema.js';
import { qemuImgCheck } from '../qemu-img-check.js';
import { virtXmlValidate } from '../virt-xml-validate.js';
import { BOOT_DISK_NOTE, type VmRun } from './vm-run.js';

function bootTestSettings(p: Pipeline): { enabled: boolean; timeoutSeconds: number } {
  const b = p.validate?.boot_test;
  if (b === true) return { enabled: true, timeoutSeconds: 300 };
  if (b && typeof b === 'object') return { enabled: b.enabled, timeoutSeconds: b.timeout_seconds };
  return { enabled: false, timeoutSeconds: 0 };
}

export async function validateStage(run: VmRun): Promise<void> {
  const { checks, multiDisk } = run;
  const signal = run.ctx.signal;
  const t = Date.now();
  for (const [i, job] of run.jobs.entries()) {
    const r = job.result!;
    const check = await qemuImgCheck(r.output, r.outputFormat, signal);
    checks.push({ name: multiDisk ? `qemu_img_check disk ${i + 1}` : 'qemu_img_check', passed: check.ran ? check.passed : null, detail: check.detail });
    if (check.ran && !check.passed)
      throw new H2kError(`qemu-img check found problems in ${r.output}: ${check.detail}`, { code: 'E_VALIDATE_CHECK', file: r.output });
  }
  if (run.libvirtXml) {
    const v = await virtXmlValidate(run.libvirtXml, signal);
    checks.push({ name: 'libvirt_xml', passed: v.ran ? v.passed : null, detail: v.detail });
    if (v.ran && !v.passed)
      throw new H2kError(`the libvirt domain XML does not validate: ${v.detail}`, { code: 'E_VALIDATE_CHECK', file: run.libvirtXml });
  }
  const boot = bootTestSettings(run.pipeline);
  if (boot.enabled) {
    const output = run.artifacts.output!;
    const b = await bootTest(output, { timeoutSeconds: boot.timeoutSeconds, signal });
    checks.push({
      name: 'boot_test', passed: b.passed,
      detail: `${b.passed ? 'booted' : 'did not boot'} in ${b.seconds}s (${b.accel}, ${b.mode})${multiDisk ? `, ${BOOT_DISK_NOTE}` : ''}: ${b.reason}`,
    });
    if (!b.passed) throw new H2kError(`boot test failed after ${b.seconds}s: ${b.reason}`, { code: 'E_BOOT_TEST', file: output, hint: `console log: ${b.consoleLog}` });
  }
  run.validateMs += Date.now() - t;
  run.stages.validate = { status: 'success', duration_seconds: Math.round(run.validateMs / 10) / 100, checks };
}
