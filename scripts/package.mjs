// `npm run package`: the platform-specific VSIX (vsce package --target), checked before anyone installs it.
//   1. build (scripts/build.mjs --production: incremental native build, minified bundles without source maps);
//   2. refuse a non-portable addon (scripts/check-portable.mjs: build info + disassembly), before and after packing;
//   3. vsce package --target T --no-dependencies: the extension has no runtime npm dependencies (esbuild bundles
//      everything into dist/extension.js; the addon is dist/specqd.node), so npm is not asked for a tree;
//   4. list the VSIX and compare it with the allow-list below (the same set as .vscodeignore): fail on anything
//      missing or extra;
//   5. take the addon out of the VSIX and complete code with it on test/fixtures/models/tiny-coder.gguf under each
//      kernel path this CPU has (SPECQD_ISA=scalar|avx2|avx512, one process each): the same tokens every time.
//   node scripts/package.mjs [--target linux-x64] [--out FILE.vsix] [--no-build] [--base-url URL]
//     --target    a vsce target; default this machine's (only a target matching this machine runs step 5)
//     --base-url  where README links point (e.g. https://github.com/OWNER/REPO/blob/v0.1.0); without it relative
//                 links stay relative (package.json has no "repository" to derive them from)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';

import { checkPortable, probeAddon } from './check-portable.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const hostTarget = `${process.platform}-${process.arch}`;
const target = option('--target') ?? hostTarget;
const vsixFile = path.resolve(option('--out') ?? path.join(root, `${manifest.name}-${target}-${manifest.version}.vsix`));
const model = path.join(root, 'test', 'fixtures', 'models', 'tiny-coder.gguf');

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function run(command, commandArgs) {
  console.log(`> ${path.basename(command)} ${commandArgs.map((a) => path.relative(root, a) || a).join(' ')}`);
  const r = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail(`'${path.basename(command)} ${commandArgs.join(' ')}' failed (exit ${r.status ?? r.signal})`);
}

/** The entries of a zip file (a VSIX): name -> { read() }; enough of the format for what vsce (yazl) writes. */
function readZip(file) {
  const buf = fs.readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file} is not a zip file`);
  const entries = new Map();
  let p = buf.readUInt32LE(eocd + 16);
  for (let n = buf.readUInt16LE(eocd + 10); n > 0; n--) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const method = buf.readUInt16LE(p + 10);
    const compressed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLength = buf.readUInt16LE(p + 28);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLength);
    entries.set(name, {
      size,
      read() {
        const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
        const data = buf.subarray(start, start + compressed);
        return method === 0 ? data : zlib.inflateRawSync(data);
      },
    });
    p += 46 + nameLength + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return entries;
}

/** What the VSIX must hold, exactly (vsce renames README.md, CHANGELOG.md and LICENSE). */
function expectedEntries() {
  const expected = new Set([
    '[Content_Types].xml',
    'extension.vsixmanifest',
    'extension/package.json',
    'extension/readme.md',
    'extension/LICENSE.txt',
    'extension/dist/extension.js',
    'extension/dist/specqd.node',
  ]);
  if (fs.existsSync(path.join(root, 'CHANGELOG.md'))) expected.add('extension/changelog.md');
  if (manifest.icon) expected.add(`extension/${manifest.icon}`);
  // Images the README shows from media/ ship too (the extension's page renders them from the VSIX).
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const m of readme.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img[^>]*\bsrc="([^"]+)"/g)) {
    const ref = (m[1] ?? m[2]).replace(/^\.\//, '');
    if (!/^[a-z]+:/i.test(ref)) expected.add(`extension/${ref}`);
  }
  return expected;
}

const started = Date.now();
if (manifest.dependencies && Object.keys(manifest.dependencies).length > 0) {
  fail(`package.json has runtime dependencies (${Object.keys(manifest.dependencies).join(', ')}); ` +
    'the VSIX is packed with --no-dependencies, so bundle them with esbuild instead');
}

// 1. Build.
if (!args.includes('--no-build')) run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--production']);
const addonFile = path.join(root, 'dist', 'specqd.node');
for (const f of [addonFile, path.join(root, 'dist', 'extension.js')]) {
  if (!fs.existsSync(f)) fail(`${path.relative(root, f)} is missing: run npm run build (or drop --no-build)`);
}

// 2. Portability of the built addon, before spending time on packing.
console.log(`\nportability of ${path.relative(root, addonFile)} (${target})`);
let problems = checkPortable(addonFile, target);
if (problems.length > 0) fail(`the addon is not portable:\n  ${problems.join('\n  ')}`);

// 3. Pack.
fs.rmSync(vsixFile, { force: true });
const baseUrl = option('--base-url');
run(process.execPath, [
  path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package',
  '--target', target,
  '--no-dependencies',
  '--out', vsixFile,
  // No "repository" in package.json: vsce would ask on a terminal (and fail in CI) without this.
  '--allow-missing-repository',
  ...(baseUrl ? ['--baseContentUrl', baseUrl, '--baseImagesUrl', baseUrl] : ['--no-rewrite-relative-links']),
]);

// 4. Contents against the allow-list.
const entries = readZip(vsixFile);
const expected = expectedEntries();
console.log(`\n${path.relative(root, vsixFile) || vsixFile} (${entries.size} files)`);
for (const [name, e] of [...entries].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(`  ${String(e.size).padStart(9)}  ${name}`);
}
const extra = [...entries.keys()].filter((n) => !expected.has(n));
const missing = [...expected].filter((n) => !entries.has(n));
problems = [
  ...extra.map((n) => `unexpected file in the VSIX: ${n} (.vscodeignore is an allow-list; add it there and here)`),
  ...missing.map((n) => `missing from the VSIX: ${n}`),
];

// 5. The packed addon: portable, and the same completion under every kernel path this CPU has.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-package-'));
try {
  if (entries.has('extension/dist/specqd.node')) {
    const packed = path.join(scratch, 'specqd.node');
    fs.writeFileSync(packed, entries.get('extension/dist/specqd.node').read());
    console.log('\nportability of the packed addon');
    problems.push(...checkPortable(packed, target));
    if (target === hostTarget && fs.existsSync(model)) {
      console.log(`\nthe packed addon completes ${path.relative(root, model)} under each kernel path`);
      const levels = process.arch === 'x64' ? ['scalar', 'avx2', 'avx512'] : ['scalar'];
      const supported = probeAddon(packed).buildInfo?.isaSupported ?? 'scalar';
      const runs = [];
      for (const isa of levels.slice(0, levels.indexOf(supported) + 1)) {
        const r = probeAddon(packed, { model, env: { SPECQD_ISA: isa }, maxTokens: 32 });
        console.log(`  SPECQD_ISA=${isa.padEnd(6)} kernels ${r.kernelPath.padEnd(14)} ${r.tokens.length} tokens ` +
          `${JSON.stringify(r.text).slice(0, 70)}`);
        if (!r.kernelPath.startsWith(isa)) problems.push(`SPECQD_ISA=${isa} ran the ${r.kernelPath} kernels`);
        if (r.tokens.length === 0) problems.push(`SPECQD_ISA=${isa}: no tokens generated`);
        runs.push({ isa, tokens: r.tokens.join(',') });
      }
      for (const isa of levels.slice(levels.indexOf(supported) + 1)) console.log(`  SPECQD_ISA=${isa}: not on this CPU, skipped`);
      for (const r of runs.slice(1)) {
        if (r.tokens !== runs[0].tokens) problems.push(`SPECQD_ISA=${r.isa} completes differently from ${runs[0].isa}`);
      }
    } else {
      console.log(`\nkernel-path completions skipped (${target === hostTarget ? 'no fixture model' : `target ${target} is not this machine`})`);
    }
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

if (problems.length > 0) {
  fs.rmSync(vsixFile, { force: true });
  fail(`${problems.length} problems (the VSIX was deleted):\n  ${problems.join('\n  ')}`);
}
const size = fs.statSync(vsixFile).size;
console.log(`\npackage: ${path.relative(root, vsixFile) || vsixFile}: ${(size / 1024).toFixed(1)} KiB, ${entries.size} files, ` +
  `contents and portability checked (${((Date.now() - started) / 1000).toFixed(1)} s)`);
