// One line per command for `h2k --help` and `h2k --version`, so those don't import every
// command's module (the daemon, guest and workflow dependencies cost ~0.5 s of start-up).
// test/cli-help.test.ts checks that these match what the commands register.
export interface CommandSummary {
  args: string;
  description: string;
}

export const COMMAND_INDEX: Record<string, CommandSummary> = {
  convert: { args: '[sources...]', description: 'convert VM disk images (VMDK, VHD, VHDX, VDI, qcow2, OVA, raw) to qcow2, raw, vdi or vmdk' },
  info: { args: '<image>', description: 'show format, virtual size, extents and metadata of an image' },
  measure: { args: '[source]', description: 'size an output before converting: required and fully allocated bytes, as qemu-img measure prints them' },
  check: { args: '<image>', description: 'check an image for consistency by reading every allocated byte, as qemu-img check reports it' },
  hash: { args: '[files...]', description: 'checksums compatible with md5sum / sha*sum / b2sum / xxhsum, content hashes of disk images, dedup precheck' },
  dedup: { args: '', description: "look up and maintain the daemon's deduplication database" },
  daemon: { args: '', description: 'watch a folder and convert every VM disk dropped into it (runs until drained or stopped)' },
  ctl: { args: '<command>', description: 'control a running daemon: status | stats | pause | resume | drain | stop | reload' },
  manifest: { args: '', description: 'declarative per-VM pipelines (load, inspect, fix, convert, validate)' },
  ovf: { args: '<source>', description: 'convert every disk of an OVA/OVF virtual machine, optionally with a libvirt domain XML' },
  inspect: { args: '<image>', description: 'inspect the guest OS inside an image (libguestfs, read-only)' },
  fix: { args: '<image>', description: 'fix a converted guest so it boots on KVM (works on the image in place: pass the converted output, never the source)' },
  validate: { args: '<image>', description: 'validate a converted guest: --boot boots it under qemu-system-x86_64 (KVM or TCG) and checks the serial console' },
  completion: { args: '<shell>', description: 'print a bash or zsh completion script (eval "$(h2k completion bash)")' },
};
