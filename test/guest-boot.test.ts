// The boot test must not pass a guest that does not reach userspace: the unfixed VMware-style guest
// (root=/dev/sda1) cannot find its root on a virtio disk, so its VM keeps running in the initramfs
// waiting for /dev/sda1 — "the VM process stayed up" — and h2k validate --boot must fail.
// Debian packages: libguestfs-tools, qemu-utils, qemu-system-x86, linux-image-amd64, busybox-static,
// e2fsprogs, fdisk (scripts/setup-system.sh installs them).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { BOOT_MARKER, qcow2Copy, vmwareGuestDisk } from './helpers/guest-fixtures.js';

const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

describe('h2k validate --boot on an unfixed guest', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'h2k-guest-boot-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fails (exit 1, passed:false) when the console never shows userspace, and saves the console log', async () => {
    const image = qcow2Copy(vmwareGuestDisk(), join(dir, 'unfixed.qcow2'));
    const before = md5(image);
    const consoleLog = join(dir, 'console.log');
    const r = await runH2k(['validate', '--boot', image, '--timeout', '90', '--console-log', consoleLog, '--json'], { timeout: 600_000 });
    expect(r.code, r.stderr).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.passed).toBe(false);
    expect(result.marker).toBeNull();
    expect(result.reason).toMatch(/no userspace marker within 90s|Gave up waiting for root|Dropping to a shell/);
    const log = readFileSync(consoleLog, 'utf8');
    expect(log).toContain('Linux version'); // the kernel did boot: only userspace is missing
    expect(log).toContain('root=/dev/sda1');
    expect(log).not.toContain(BOOT_MARKER);
    expect(md5(image)).toBe(before);
  }, 600_000);

  it('usage errors: no --boot, bad --timeout', async () => {
    const none = await runH2k(['validate', join(dir, 'x.qcow2')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/\[E_USAGE\]: nothing to validate: pass --boot/);
    const bad = await runH2k(['validate', '--boot', join(dir, 'x.qcow2'), '--timeout', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/\[E_INVALID_ARGUMENT\]/);
  });
});
