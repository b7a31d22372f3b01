// OVF descriptors written the way exporters write them: VMware (OVF 1.x, vmw:Config
// firmware, SCSI + IDE controllers, VmxNet3/E1000 NICs) and VirtualBox (SATA/AHCI).
export interface SampleDisk {
  href: string;
  capacityGiB?: number;
  capacityBytes?: number;
  controller: 'scsi' | 'ide' | 'sata';
  unit: number;
  size?: number;
  gzip?: boolean;
}

export interface SampleVm {
  name: string;
  vcpus: number;
  memoryMiB: number;
  efi?: boolean;
  disks: SampleDisk[];
  nics: Array<{ network: string; model: string; mac?: string }>;
}

export function vmwareOvf(vm: SampleVm): string {
  const files = vm.disks
    .map((d, i) => `    <File ovf:href="${d.href}" ovf:id="file${i + 1}"${d.size ? ` ovf:size="${d.size}"` : ''}${d.gzip ? ' ovf:compression="gzip"' : ''}/>`)
    .join('\n');
  const disks = vm.disks
    .map((d, i) =>
      d.capacityBytes !== undefined
        ? `    <Disk ovf:capacity="${d.capacityBytes}" ovf:diskId="vmdisk${i + 1}" ovf:fileRef="file${i + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`
        : `    <Disk ovf:capacity="${d.capacityGiB}" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk${i + 1}" ovf:fileRef="file${i + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`,
    )
    .join('\n');
  const ctrl = { scsi: 3, ide: 4, sata: 5 } as const;
  // Disk items come BEFORE their controllers' natural order to prove we sort by controller.
  const diskItems = [...vm.disks]
    .map((d, i) => ({ d, i }))
    .reverse()
    .map(
      ({ d, i }) => `      <Item>
        <rasd:AddressOnParent>${d.unit}</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk ${i + 1}</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk${i + 1}</rasd:HostResource>
        <rasd:InstanceID>${10 + i}</rasd:InstanceID>
        <rasd:Parent>${ctrl[d.controller]}</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>`,
    )
    .join('\n');
  const nics = vm.nics
    .map(
      (n, i) => `      <Item>
        ${n.mac ? `<rasd:Address>${n.mac}</rasd:Address>` : ''}
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>${n.network}</rasd:Connection>
        <rasd:ElementName>Network adapter ${i + 1}</rasd:ElementName>
        <rasd:InstanceID>${20 + i}</rasd:InstanceID>
        <rasd:ResourceSubType>${n.model}</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-123" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
${files}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${disks}
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network"><Description>The VM Network network</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${vm.name}">
    <Info>A virtual machine</Info>
    <Name>${vm.name}</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="debian11_64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${vm.name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:ElementName>${vm.vcpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>${vm.vcpus}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>${vm.memoryMiB}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>${vm.memoryMiB}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>IDE 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SATA controller 0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
${diskItems}
${nics}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="${vm.efi ? 'efi' : 'bios'}"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
