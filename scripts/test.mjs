// `npm test`: every check the project has, in order, with one pass/fail line per step and a summary at the end.
//   typecheck + compile tests -> lint + layer rules -> build -> native tests (CTest) -> the same under sanitizers
//   -> bounded fuzzing -> TypeScript unit tests (mocha) -> bench model widening -> privacy (no network) -> extension-host tests
//   (code-server + Chromium) -> package the VSIX and test it installed -> parity and MXFP4 interop with llama.cpp
// Later steps still run after a failure, so one run shows everything that is broken.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;
const bin = (pkg, file) => path.join(root, 'node_modules', pkg, file);

const steps = [
  ['typecheck', node, [bin('typescript', 'bin/tsc'), '-p', '.']],
  ['lint', node, [bin('eslint', 'bin/eslint.js'), '--max-warnings', '0', '.']],
  ['layer rules', node, ['scripts/check-layers.mjs']],
  ['build', node, ['scripts/build.mjs']],
  ['native tests', 'ctest', ['--test-dir', 'build', '--output-on-failure', '-j', '2']],
  ['native tests under ASan+UBSan and TSan', node, ['scripts/test-sanitizers.mjs']],
  // Each fuzz target for 30 s over the committed seeds; fails (not skips) without clang, which CI installs.
  ['fuzzing (libFuzzer, bounded)', node, ['scripts/fuzz.mjs']],
  ['unit tests', node, [bin('mocha', 'bin/mocha.js'), '--timeout', '30000', '--recursive', 'out/test/unit']],
  // The benchmark's cost-realistic models: zero-padded widening must keep the trained model's greedy tokens.
  ['bench model widening', node, ['bench/test-widen.mjs']],
  // The CLI and the extension's completion path under strace: no internet socket is ever opened.
  ['privacy (no network)', node, ['test/privacy/no-network.mjs']],
  // The extension in a real VS Code (code-server + headless Chromium), with screenshots in out/screenshots/.
  ['extension host', node, ['scripts/test-host.mjs']],
  // npm run package (portability and contents checks, every kernel path) and the VSIX installed into a fresh
  // code-server with no build tools on PATH, completing code there.
  ['package + install (VSIX)', node, ['scripts/test-install.mjs']],
  // llama.cpp as the reference lives in its own package so its optional GPU builds are never installed.
  ['llama.cpp reference install', 'npm', ['ci', '--prefix', 'test/parity', '--omit=optional', '--no-audit', '--no-fund']],
  ['llama.cpp parity', node, ['test/parity/parity.mjs']],
  ['llama.cpp MXFP4 interop', node, ['test/parity/mxfp4-interop.mjs']],
];

const results = [];
for (const [name, command, args] of steps) {
  const started = Date.now();
  console.log(`\n=== ${name}: ${path.basename(command)} ${args.map((a) => path.relative(root, a) || a).join(' ')}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '0' } });
  const ok = r.status === 0;
  results.push({ name, ok, seconds: (Date.now() - started) / 1000 });
  console.log(`=== ${name}: ${ok ? 'ok' : `FAILED (exit ${r.status ?? r.signal})`}`);
  if (!ok && name === 'build') break;  // nothing after the build can run without it
}

console.log('\nSummary');
for (const r of results) console.log(`  ${r.ok ? 'pass' : 'FAIL'}  ${r.name} (${r.seconds.toFixed(1)} s)`);
const failed = results.filter((r) => !r.ok).length + (steps.length - results.length);
console.log(`${results.length - results.filter((r) => !r.ok).length} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
