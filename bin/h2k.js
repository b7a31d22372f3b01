#!/usr/bin/env node
// Thin launcher. Native conversions run on libuv threads (one per job plus fs work), so the
// pool must be larger than libuv's default of 4 before anything touches it.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
