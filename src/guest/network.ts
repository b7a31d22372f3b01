// Network configuration: drop MAC pinning (basic) and move VMware NIC names to ethN with
// net.ifnames=0 so the first virtio NIC comes up under the configured name (full).
import { parseDocument, isMap, YAMLMap } from 'yaml';
import type { GuestNetworkConfig, NetworkLevel } from './types.js';

/** Names VMware guests give NICs: vmxnet3/e1000 slots (ens32/33/160/192/224/256...), eno167777xx, enp2s1/enp11s0... */
const VMWARE_NAME = /^(ens(3[2-5]|16[01]|19[23]|22[45]|25[67])|eno\d{5,}|enp\d+s\d+(f\d+)?)$/;

export function isVmwareNicName(name: string): boolean {
  return VMWARE_NAME.test(name);
}

/** Assigns eth0, eth1... to the VMware names in order of first appearance. */
export function nicNameMap(names: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const n of names) if (isVmwareNicName(n) && !map.has(n)) map.set(n, `eth${map.size}`);
  return map;
}

/** Interface names a config file mentions, so one map covers every backend. */
export function nicNamesIn(cfg: GuestNetworkConfig, text: string): string[] {
  const found: string[] = [];
  const add = (re: RegExp) => {
    for (const m of text.matchAll(re)) found.push(m[1]!);
  };
  switch (cfg.backend) {
    case 'ifupdown': add(/^\s*(?:auto|allow-[\w-]+|iface)\s+([\w.:-]+)/gm); break;
    case 'ifcfg-rh': add(/^\s*DEVICE=["']?([\w.:-]+)/gm); break;
    case 'wicked': { const n = wickedNic(cfg.file); if (n) found.push(n); break; }
    case 'networkmanager': add(/^\s*interface-name=([\w.:-]+)/gm); break;
    case 'systemd-networkd': add(/^\s*Name=([\w.:-]+)/gm); break;
    case 'netplan': add(/^\s{2,}([\w.-]+):\s*$/gm); add(/set-name:\s*["']?([\w.-]+)/gm); break;
    case 'udev-persistent-net': add(/NAME="([\w.-]+)"/g); break;
  }
  return found;
}

export function rewriteNetworkConfig(cfg: GuestNetworkConfig, text: string, level: NetworkLevel, names: Map<string, string>): string | null {
  if (level === 'none') return text;
  const full = level === 'full';
  switch (cfg.backend) {
    case 'udev-persistent-net':
      return text.replace(/^(?!#)(.*ATTR\{address\}==.*)$/gm, '# h2k: MAC-pinned rule disabled for KVM: $1');
    case 'ifupdown': {
      let out = text.replace(/^(\s*hwaddress\s+.*)$/gm, '# h2k: MAC pinning removed: $1');
      if (full) out = renameWords(out, names);
      if (full && names.size && !/^\s*iface\s+eth0\s/m.test(out))
        out += `${out.endsWith('\n') ? '' : '\n'}\n# h2k: DHCP fallback for the first virtio NIC\nallow-hotplug eth0\niface eth0 inet dhcp\n`;
      return out;
    }
    case 'ifcfg-rh': {
      let out = text.replace(/^\s*(HWADDR|MACADDR)=.*\n?/gm, '');
      if (full) out = out.replace(/^(\s*(?:DEVICE|NAME)=["']?)([\w.:-]+)/gm, (w, k: string, n: string) => (names.has(n) ? k + names.get(n)! : w));
      if (full && !/^\s*IPADDR/m.test(out) && /^\s*BOOTPROTO=["']?none/m.test(out)) out = out.replace(/^(\s*BOOTPROTO=)["']?none["']?/m, '$1dhcp');
      return out;
    }
    case 'wicked':
      // LLADDR makes wicked put the VMware MAC on the new NIC (libvirt's MAC overridden, a clash
      // with the source VM); HWADDR is older SUSE's pin. The interface is named by the file (wickedTarget).
      return text.replace(/^\s*(LLADDR|HWADDR|MACADDR)=.*\n?/gm, '');
    case 'networkmanager': {
      let out = text.replace(/^\s*(mac-address|cloned-mac-address)=.*\n?/gm, '');
      if (full) out = out.replace(/^\s*interface-name=.*\n?/gm, ''); // the profile then applies to any NIC
      return out;
    }
    case 'systemd-networkd': {
      if (cfg.file.endsWith('.link') && /^\s*MACAddress=/m.test(text)) return null; // a .link keyed on MAC renames nothing on KVM
      let out = text.replace(/^\s*(MACAddress|PermanentMACAddress)=.*\n?/gm, '');
      if (full) out = out.replace(/^(\s*Name=)(.*)$/gm, (_w, k: string, v: string) => k + v.split(/\s+/).map((n) => names.get(n) ?? n).join(' '));
      return out;
    }
    case 'netplan':
      return rewriteNetplan(text, full, names);
  }
}

/** The interface a wicked ifcfg file configures: its name after ifcfg- (null for lo and odd names). */
export function wickedNic(file: string): string | null {
  const m = /\/ifcfg-([\w.:-]+)$/.exec(file);
  return m && m[1] !== 'lo' ? m[1]! : null;
}

/** Where a config file goes once its NIC is renamed: wicked's ifcfg-<nic> takes the new name (null: it stays). */
export function renamedConfigFile(cfg: GuestNetworkConfig, names: Map<string, string>): string | null {
  if (cfg.backend !== 'wicked') return null;
  const nic = wickedNic(cfg.file);
  const to = nic === null ? undefined : names.get(nic);
  return to === undefined ? null : `${cfg.file.slice(0, cfg.file.lastIndexOf('/'))}/ifcfg-${to}`;
}

function renameWords(text: string, names: Map<string, string>): string {
  let out = text;
  for (const [from, to] of names) out = out.replace(new RegExp(`(?<![\\w.-])${from.replace(/[.]/g, '\\.')}(?![\\w-])`, 'g'), to);
  return out;
}

function rewriteNetplan(text: string, full: boolean, names: Map<string, string>): string {
  const doc = parseDocument(text);
  const ethernets = doc.getIn(['network', 'ethernets']);
  if (!isMap(ethernets)) return text;
  for (const pair of [...ethernets.items]) {
    const nic = pair.value;
    if (!isMap(nic)) continue;
    const match = nic.get('match');
    const setName = nic.get('set-name');
    if (isMap(match) && match.has('macaddress')) {
      match.delete('macaddress');
      if (match.items.length === 0) {
        nic.delete('match');
        // without a match, set-name is invalid: match the name the NIC is meant to have instead
        if (typeof setName === 'string') {
          nic.set('match', new YAMLMap(doc.schema));
          (nic.get('match') as YAMLMap).set('name', setName);
          nic.delete('set-name');
        }
      }
    }
    if (full) {
      const key = String((pair.key as { value?: unknown })?.value ?? pair.key);
      const m = nic.get('match');
      if (isMap(m) && typeof m.get('name') === 'string' && names.has(m.get('name') as string)) m.set('name', names.get(m.get('name') as string)!);
      if (names.has(key)) (pair.key as { value?: unknown }).value = names.get(key);
      if (!nic.has('addresses') && !nic.has('dhcp4')) nic.set('dhcp4', true);
    }
  }
  // keep the file's own indentation (cloud-init writes 4 spaces; yaml would re-indent by 2)
  const indent = /^( +)\S/m.exec(text)?.[1]!.length ?? 2;
  return doc.toString({ indent });
}
