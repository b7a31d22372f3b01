// The libguestfs session always shuts its appliance down: after normal use and after a cancel
// in the middle of the appliance launch, no guestfish/qemu process for the image is left behind.
// Debian packages: libguestfs-tools, qemu-utils, linux-image-amd64, busybox-static, e2fsprogs, fdisk.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestfishSession, withGuestSession } from '../src/guest/guestfish-session.js';
import { inspectImage } from '../src/guest/index.js';
import { qcow2Copy, vmwareGuestDisk } from './helpers/guest-fixtures.js';

function processesUsing(image: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(image) && !l.includes('ps -eo'));
}

describe('guestfish session life cycle', () => {
  let dir: string;
  let image: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'h2k-guest-session-'));
    image = qcow2Copy(vmwareGuestDisk(), join(dir, 'session.qcow2'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs many commands in one appliance, reports failures without killing it, and shuts down', async () => {
    const logs: string[] = [];
    let pid = 0;
    const text = await withGuestSession(image, { readonly: true, log: (l) => logs.push(l) }, async (s) => {
      pid = s.pid;
      await s.call('mount-ro', '/dev/sda1', '/');
      // a failing command is an E_GUEST_COMMAND error, and the appliance stays usable
      await expect(s.readText('/no/such/file')).rejects.toMatchObject({ code: 'E_GUEST_COMMAND' });
      await expect(s.call('write', '/x', ':')).rejects.toMatchObject({ code: 'E_INTERNAL' }); // ':' would split guestfish commands
      return s.readText('/etc/hostname');
    });
    expect(text).toBe('vmware-guest\n');
    expect(logs.filter((l) => l.startsWith('starting libguestfs appliance'))).toHaveLength(1);
    if (process.env.H2K_GUEST_ACCEL !== 'kvm') expect(logs).toContain('KVM not usable, using TCG (the libguestfs appliance will be slow)');
    expect(() => process.kill(pid, 0)).toThrow(); // the listener is gone
    expect(processesUsing(image)).toEqual([]);
  }, 600_000);

  it('a cancel during the appliance launch rejects with E_CANCELLED and leaves nothing running', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 3000);
    await expect(inspectImage(image, { signal: controller.signal, log: () => {} })).rejects.toMatchObject({ code: 'E_CANCELLED' });
    expect(processesUsing(image)).toEqual([]);
  }, 600_000);

  it('an unreadable image fails before any appliance starts', async () => {
    await expect(GuestfishSession.open(join(dir, 'missing.qcow2'), { readonly: true, log: () => {} })).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });
});
