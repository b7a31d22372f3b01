// An OVF's declared disk capacity against the disk's own virtual size. The disk's header is what
// converts (it is what the guest wrote to); the descriptor's number is metadata that exporters
// round differently (VHD CHS geometry, VMDK grains), so a disagreement is reported, not refused.
// A member whose content is no disk at all is refused by the native reader (E_OVA_NO_DISK).
import type { OvfDisk } from './ovf-types.js';

/** A warning when the descriptor declares a capacity other than the disk's virtual size. */
export function capacityMismatch(disk: OvfDisk, virtualSize: number): string | undefined {
  if (!disk.capacityBytes || disk.capacityBytes === virtualSize) return undefined;
  return (
    `disk ${disk.diskId} (${disk.file.href}): the OVF declares ovf:capacity ${disk.capacityBytes} bytes but the disk's header ` +
    `says ${virtualSize}; converted at ${virtualSize} bytes, as its header describes — check the appliance's origin`
  );
}
