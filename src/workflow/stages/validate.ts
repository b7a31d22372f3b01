// Validate stage: qemu-img check of every disk, virt-xml-validate of the domain XML, the boot test.
// (The content check ran with the conversion: convert.ts.)
import { bootTest } from '../../guest/index.js';
import { H2kError } from '../../util/errors.js';
import { qemuImgCheck } from '../qemu-img-check.js';
import { virtXmlValidate } from '../virt-xml-validate.js';
import { BOOT_DISK_NOTE, diskCheck, type StageDetails, type VmRun } from './vm-run.js';

export async function validateStage(run: VmRun): Promise<StageDetails> {
  const { checks, multiDisk } = run;
  const signal = run.ctx.signal;
  const t = Date.now();
  // A tool's check that could not run (not installed, or a format it cannot check) is listed, passed null.
  const record = (name: string, c: { ran: boolean; passed: boolean; detail: string }, failure: string, file: string) => {
    checks.push({ name, passed: c.ran ? c.passed : null, detail: c.detail });
    if (c.ran && !c.passed) throw new H2kError(`${failure}: ${c.detail}`, { code: 'E_VALIDATE_CHECK', file });
  };
  for (const [i, r] of run.results.entries())
    record(diskCheck(run, 'qemu_img_check', i), await qemuImgCheck(r.output, r.outputFormat, signal), `qemu-img check found problems in ${r.output}`, r.output);
  const xml = run.artifacts.libvirt_xml;
  if (xml) record('libvirt_xml', await virtXmlValidate(xml, signal), 'the libvirt domain XML does not validate', xml);
  const b = run.pipeline.validate?.boot_test; // `true`: enabled with the schema's default timeout
  const boot = b === true ? { enabled: true, timeout_seconds: 300 } : b || { enabled: false, timeout_seconds: 0 };
  if (boot.enabled) {
    const output = run.artifacts.output!;
    const r = await bootTest(output, { timeoutSeconds: boot.timeout_seconds, signal });
    checks.push({
      name: 'boot_test', passed: r.passed,
      detail: `${r.passed ? 'booted' : 'did not boot'} in ${r.seconds}s (${r.accel}, ${r.mode})${multiDisk ? `, ${BOOT_DISK_NOTE}` : ''}: ${r.reason}`,
    });
    if (!r.passed) throw new H2kError(`boot test failed after ${r.seconds}s: ${r.reason}`, { code: 'E_BOOT_TEST', file: output, hint: `console log: ${r.consoleLog}` });
  }
  run.validateMs += Date.now() - t;
  return { duration_seconds: Math.round(run.validateMs / 10) / 100, checks };
}
