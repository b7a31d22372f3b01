#!/usr/bin/env bash
# From a fresh Debian 12 machine to a working `h2k`: Debian packages, npm dependencies,
# the native addon and the TypeScript build, then a demo conversion of an example image.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-system.sh
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
# Put `h2k` on PATH (a symlink to this checkout).
npm link --no-audit --no-fund >/dev/null 2>&1 || echo "install: npm link failed; use node bin/h2k.js instead of h2k"
bash scripts/demo.sh
