// Which virtio-win directory serves a Windows version, and how its storage drivers are bound at
// boot: CriticalDeviceDatabase up to Windows 7 / 2008 R2, the driver store's DriverDatabase after.

export interface WindowsVersion {
  major: number;
  minor: number;
  build: number | null;
  server: boolean;
}

/** virtio-win ISO directory names for the version, best first (e.g. 2k19 then w10 for Server 2019). */
export function virtioWinDirs(v: WindowsVersion): string[] {
  const { major, minor, build, server } = v;
  if (major === 6 && minor === 0) return server ? ['2k8'] : ['2k8'];
  if (major === 6 && minor === 1) return server ? ['2k8R2', 'w7'] : ['w7'];
  if (major === 6 && minor === 2) return server ? ['2k12', 'w8'] : ['w8'];
  if (major === 6 && minor === 3) return server ? ['2k12R2', 'w8.1'] : ['w8.1'];
  if (major === 10) {
    const b = build ?? 0;
    if (server) return b >= 26100 ? ['2k25', '2k22'] : b >= 20348 ? ['2k22'] : b >= 17763 ? ['2k19', '2k16'] : ['2k16'];
    return b >= 22000 ? ['w11', 'w10'] : ['w10'];
  }
  return [];
}

/** The CriticalDeviceDatabase binds boot devices up to 6.1; Windows 8 / 2012 and later ignore it. */
export function usesCriticalDeviceDatabase(v: WindowsVersion): boolean {
  return v.major < 6 || (v.major === 6 && v.minor < 2);
}

/** virtio-win's architecture directory for libguestfs' arch name. */
export function virtioWinArch(arch: string | null): string | null {
  if (arch === 'x86_64') return 'amd64';
  if (arch === 'i386' || arch === 'i686') return 'x86';
  if (arch === 'aarch64') return 'ARM64';
  return null;
}
