// What h2k takes from an OVF descriptor: enough to convert every disk and describe the VM
// to libvirt. Sizes in bytes; disks already sorted in controller order.
export type Firmware = 'bios' | 'efi';
export type ControllerKind = 'ide' | 'scsi' | 'sata' | 'nvme' | 'other';

export interface OvfFile {
  id: string;
  href: string;
  size?: number;
  compression?: string; // "gzip" when the file is stored compressed
  chunkSize?: number;
}

export interface OvfDisk {
  diskId: string;
  file: OvfFile;
  capacityBytes: number;
  format?: string; // ovf:format URI
  controller: ControllerKind;
  controllerIndex: number; // position of the controller in the hardware section
  unit: number; // AddressOnParent
}

export interface OvfNic {
  name: string;
  network: string;
  model?: string; // ResourceSubType: E1000, VmxNet3, ...
  mac?: string;
}

export interface OvfVm {
  name: string;
  vcpus: number;
  memoryBytes: number;
  firmware: Firmware;
  osType?: string;
  disks: OvfDisk[];
  nics: OvfNic[];
  files: OvfFile[];
}
