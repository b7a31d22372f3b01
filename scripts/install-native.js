#!/usr/bin/env node
// npm "install" hook. The package ships build/Release/h2k_native.node prebuilt (linux-x64,
// glibc, N-API 8); it is rebuilt from native/ only when it is missing or does not load here
// (another architecture, missing libdeflate/libzstd/libxxhash). Building needs the toolchain
// from scripts/setup-system.sh. A failed build warns and leaves the install in place: every
// command then reports E_NATIVE_MISSING with this hint instead of npm rolling back.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addon = join(root, 'build', 'Release', 'h2k_native.node');
const require = createRequire(import.meta.url);

function loads() {
  if (!existsSync(addon)) return 'missing';
  try {
    require(addon);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

// A development checkout (it has the TypeScript sources) is built by `npm run build`
// (scripts/install.sh), with the native tools too: building here as well would only double it.
if (existsSync(join(root, 'src', 'cli', 'main.ts'))) process.exit(0);

const problem = loads();
if (problem === undefined) process.exit(0);
console.error(`h2k: native addon ${problem === 'missing' ? 'missing' : `does not load (${problem})`}; building it from native/`);

const compile = ['compile', '--out', 'build'];
let result;
try {
  // A development checkout has cmake-js and node-addon-api as devDependencies.
  require.resolve('node-addon-api');
  result = spawnSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), ...compile], { cwd: root, stdio: 'inherit' });
} catch {
  // An installed package has neither: fetch both for this build only. NODE_PATH lets the
  // CMakeLists.txt `require('node-addon-api')` find npm exec's temporary copy.
  const build = `NODE_PATH="$(dirname "$(dirname "$(command -v cmake-js)")")" cmake-js ${compile.join(' ')}`;
  result = spawnSync('npm', ['exec', '--yes', '--package=cmake-js@^8', '--package=node-addon-api@^8', '--', 'sh', '-c', build],
    { cwd: root, stdio: 'inherit' });
}
if (result.status !== 0 || loads() !== undefined) {
  console.error('h2k: building the native addon failed. Install the build dependencies (sudo bash ' +
    `${join(root, 'scripts', 'setup-system.sh')}) and run \`npm rebuild h2k\`.`);
}
