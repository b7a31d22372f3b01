// What a Windows boot test can prove without Windows: qemu runs the fixed disk on virtio-blk with
// a virtio-net NIC. The PCI devices are read from qemu itself over QMP (query-pci).
import { connect } from 'node:net';

export const VIRTIO_BLK = '1af4:1001';
export const VIRTIO_NET = '1af4:1000';

/** vendor:device of every PCI device qemu emulates, asked over its QMP socket (retried until it listens). */
export async function qmpPciDevices(socket: string, timeoutMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await queryPci(socket);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function queryPci(socket: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let buf = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error('QMP did not answer')); }, 10_000);
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.on('data', (d) => {
      buf += d.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string } };
        if (msg.QMP) c.write('{"execute":"qmp_capabilities"}\n{"execute":"query-pci","id":"pci"}\n');
        else if (msg.error) { clearTimeout(timer); c.destroy(); reject(new Error(msg.error.desc)); }
        else if (Array.isArray(msg.return)) {
          clearTimeout(timer);
          c.destroy();
          const hex = (n: number) => n.toString(16).padStart(4, '0');
          resolve((msg.return as { devices: { id: { vendor: number; device: number } }[] }[])
            .flatMap((bus) => bus.devices.map((d) => `${hex(d.id.vendor)}:${hex(d.id.device)}`)));
        }
      }
    });
  });
}
