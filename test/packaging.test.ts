// The npm package as users get it: `npm pack`, install the tarball into an empty project with
// npm, run the installed bin. better-sqlite3 compiles from source during that install (no
// prebuilt download here), which is most of this test's ~100 s.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, runCommand } from './helpers/cli.js';

const MiB = 1024 * 1024;
const temp = mkdtempSync(join(tmpdir(), 'h2k-packaging-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

describe('npm package', () => {
  it('packs the built CLI, addon and man page without demo data, installs, and runs', { timeout: 240_000 }, async () => {
    const packDir = join(temp, 'pack');
    mkdirSync(packDir);
    const packed = await runCommand('npm', ['pack', '--json', '--pack-destination', packDir], { timeout: 60_000 });
    expect(packed.code, packed.stderr).toBe(0);
    const [result] = JSON.parse(packed.stdout) as PackResult[];
    const files = result.files.map((f) => f.path);

    expect(result.size).toBeLessThan(20 * MiB);
    expect(files.filter((f) => f.startsWith('examples/work') || f.startsWith('bench/') || f.startsWith('test/'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('build/'))).toEqual(['build/Release/h2k_native.node']);
    for (const f of ['bin/h2k.js', 'dist/cli/main.js', 'dist/man/h2k.1', 'scripts/install-native.js', 'CMakeLists.txt', 'package.json',
      'examples/systemd/h2k.service', 'examples/systemd/h2k@.service', 'examples/systemd/h2k.sysusers.conf'])
      expect(files).toContain(f);

    const project = join(temp, 'project');
    mkdirSync(project);
    // npm >= 11 runs dependency install scripts only when allowed; better-sqlite3 needs its build.
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'h2k-install-test', private: true, allowScripts: { 'better-sqlite3': true, h2k: true } }));
    const started = Date.now();
    const install = await runCommand('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(packDir, result.filename)], { cwd: project, timeout: 200_000 });
    expect(install.code, install.stderr).toBe(0);
    console.log(`packaging: tarball ${(result.size / MiB).toFixed(2)} MiB, ${files.length} files; npm install took ${((Date.now() - started) / 1000).toFixed(0)} s`);

    const h2k = join(project, 'node_modules', '.bin', 'h2k');
    const version = await runCommand(h2k, ['--version'], { cwd: project });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);

    const raw = join(temp, 'tiny.raw');
    writeFileSync(raw, '');
    truncateSync(raw, MiB);
    const info = await runCommand(h2k, ['info', '--json', raw], { cwd: project });
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ format: 'raw', virtualSize: MiB });

    const completion = await runCommand(h2k, ['completion', 'bash'], { cwd: project });
    expect(completion.stdout).toContain('complete -F _h2k h2k');
    expect(existsSync(join(project, 'node_modules', 'h2k', 'dist', 'man', 'h2k.1'))).toBe(true);

    // the systemd units ship and install from the package, naming the installed h2k
    const unit = await runCommand(h2k, ['daemon', 'install-unit', '--prefix', join(temp, 'root')], { cwd: project });
    expect(unit.code, unit.stderr).toBe(0);
    expect(readFileSync(join(temp, 'root', 'etc', 'systemd', 'system', 'h2k.service'), 'utf8')).toContain(join(project, 'node_modules', 'h2k', 'bin', 'h2k.js'));
  });

  it('refuses to pack a stale build (prepack guard): a source newer than its dist file, a missing man page or addon', async () => {
    const tree = join(temp, 'stale');
    const put = (rel: string, text: string, ageSeconds: number) => {
      const p = join(tree, rel);
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, text);
      const t = Date.now() / 1000 - ageSeconds;
      utimesSync(p, t, t);
    };
    put('src/cli/command-spec.ts', 'export {};', 100);
    put('dist/cli/command-spec.js', 'export {};', 50);
    put('dist/man/h2k.1', '.TH H2K 1', 40);
    put('native/src/io/file.cpp', '', 100);
    put('build/Release/h2k_native.node', '', 30);
    const guard = join(repoRoot, 'scripts', 'check-built.js');
    expect((await runCommand('node', [guard, tree])).code).toBe(0);

    put('src/cli/command-spec.ts', 'export const changed = 1;', 10); // edited after the build
    put('native/src/io/file.cpp', '// edited', 5);
    rmSync(join(tree, 'dist', 'man', 'h2k.1'));
    const stale = await runCommand('node', [guard, tree]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('E_STALE_BUILD');
    expect(stale.stderr).toContain('dist/cli/command-spec.js is older than src/cli/command-spec.ts');
    expect(stale.stderr).toContain('dist/man/h2k.1 missing');
    expect(stale.stderr).toContain('build/Release/h2k_native.node is older than native/src/io/file.cpp');
    expect(stale.stderr).toContain('npm run build');
    // the real tree passes: it was just built (the pack above ran the same guard)
    expect((await runCommand('node', [guard])).code).toBe(0);
  });
});
