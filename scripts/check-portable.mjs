// Checks that a prebuilt specqd.node runs on any machine of its target, not only on the one that built it: an x64
// addon must pick its AVX-512 / AVX2 / scalar kernels at run time (native/src/kernels/cpu-features.h) and contain no
// AVX code anywhere else. Used by scripts/package.mjs before it packs a VSIX; standalone:
//   node scripts/check-portable.mjs FILE.node [--target linux-x64|linux-arm64|darwin-x64|darwin-arm64|win32-x64]
//
// Two independent checks, because each misses what the other sees:
//   1. buildInfo (exported by the addon, native/src/binding/addon.cpp): the ISA-extension macros (__AVX__, __AVX2__,
//      __FMA__, __AVX512F__, ...) in effect when baseline files were compiled. -march=native, -mavx2 or /arch:AVX2
//      given to the whole build or to a target shows up here, on every OS and compiler. It only sees the
//      compiler's flags, not the machine code.
//   2. Disassembly (objdump, ELF x64): every function whose symbol is not in the ISA namespaces (specqd::avx2,
//      specqd::avx512, specqd::mxfp4::avx2, specqd::mxfp4::avx512, and what is named after their types) must be
//      free of AVX / AVX-512 / BMI instructions (VEX or EVEX encodings, ymm / zmm / mask registers). This catches
//      what flags cannot: an inline function or template compiled inside an *-avx2.cpp file whose AVX copy the
//      linker keeps for every caller (one definition per symbol), intrinsics or target attributes in a baseline
//      file. It also checks the other way round, that the ISA kernels are present (ymm and zmm code exists), so a
//      stripped binary or a broken build cannot pass by having nothing to look at.
// Not checked here: SSE3-SSE4.2 opcodes in the disassembly (the macros of check 1 cover them), and other ISAs than
// x64 (an arm64 build has only the scalar path; check 1 confirms that).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// Symbols (mangled) of code compiled for one ISA: the namespaces, and anything whose name mentions their types
// (only code of those files can name them: the types live in anonymous namespaces there).
const isaSymbol = /N[rVKRO]*6specqd(?:5mxfp4)?(?:4avx2|6avx512)/; // N, cv/ref qualifiers, the names
// Instructions that need more than x86-64 baseline: VEX/EVEX-encoded vector ops (AT&T mnemonics v*), AVX-512 mask
// ops (k*), BMI1/BMI2 (VEX-encoded integer ops), and ymm / zmm / opmask registers in any operand. tzcnt is left out:
// GCC emits `rep bsf`, which objdump names tzcnt and which runs as bsf on CPUs without BMI.
const avxMnemonic =
  /^(?:v(?!err|erw|mcall|mlaunch|mresume|mread|mwrite|mptrld|mptrst|mclear|mxon|mxoff|mfunc|mrun|mload|msave|mmcall)[a-z0-9]+|k(?:and|andn|or|xor|xnor|not|mov|shiftl|shiftr|test|ortest|add|unpck)[bwdq]{1,2}|andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|lzcnt|popcnt|movbe)$/;
const avxRegister = /%(?:[yz]mm\d+|k[0-7]\b)/;

/** Allowed baseline ISA extensions per target (beyond each architecture's own baseline). */
function allowedBaseline(target) {
  // macOS on x64 guarantees SSSE3 (every Intel Mac); Apple's clang assumes it by default.
  if (target === 'darwin-x64') return new Set(['sse3', 'ssse3']);
  return new Set();
}

/** Runs scripts/addon-probe.mjs on `file` in a child process; returns its JSON or throws with what went wrong. */
export function probeAddon(file, { model, env = {}, maxTokens } = {}) {
  const args = [path.join(here, 'addon-probe.mjs'), file];
  if (model) args.push('--model', model);
  if (maxTokens) args.push('--max-tokens', String(maxTokens));
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    throw new Error(`loading ${file} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(0, 800)}`);
  }
  return JSON.parse(r.stdout);
}

/** Check 1: what the addon says about how it was compiled. */
export function checkBuildInfo(buildInfo, target) {
  const problems = [];
  if (!buildInfo) return ['the addon exports no buildInfo (built from an older source?)'];
  const arch = target.split('-')[1];
  if (buildInfo.arch !== arch) problems.push(`built for ${buildInfo.arch}, the VSIX target is ${target}`);
  const allowed = allowedBaseline(target);
  for (const [where, list] of [['core (cpu-features.cpp)', buildInfo.baselineIsa], ['binding (addon.cpp)', buildInfo.bindingIsa]]) {
    const extra = String(list ?? '').split(' ').filter((x) => x && !allowed.has(x));
    if (extra.length > 0) {
      problems.push(`baseline code of the ${where} was compiled with ${extra.join(', ')} (-march=native or an ISA flag ` +
        'outside the *-avx2.cpp / *-avx512.cpp files): it would not run on CPUs without them');
    }
  }
  const wanted = arch === 'x64' ? 'scalar avx2 avx512' : 'scalar';
  if (buildInfo.kernelPaths !== wanted) problems.push(`kernel paths '${buildInfo.kernelPaths}', expected '${wanted}'`);
  return problems;
}

/** Check 2: the machine code (ELF x64 only). Returns { problems, summary } or null when it cannot run here. */
export function checkDisassembly(file) {
  const head = fs.readFileSync(file).subarray(0, 20);
  const isElfX64 = head.subarray(0, 4).toString('latin1') === '\x7fELF' && head.readUInt16LE(18) === 62;
  if (!isElfX64) return null;
  const r = spawnSync('objdump', ['-d', '--no-show-raw-insn', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error || r.status !== 0) return null;
  const offenders = new Map(); // symbol -> [count, first instruction]
  let isaFunctions = 0;
  let ymm = 0;
  let zmm = 0;
  let functions = 0;
  let fn = null;
  let fnIsIsa = false;
  for (const line of r.stdout.split('\n')) {
    const header = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (header) {
      fn = header[1];
      fnIsIsa = isaSymbol.test(fn);
      functions++;
      if (fnIsIsa) isaFunctions++;
      continue;
    }
    const insn = /^\s+[0-9a-f]+:\s+(\S+)\s*(.*)$/.exec(line);
    if (!insn || fn === null) continue;
    const [, mnemonic, operands] = insn;
    const needsIsa = avxMnemonic.test(mnemonic) || avxRegister.test(operands);
    if (!needsIsa) continue;
    if (fnIsIsa) {
      if (operands.includes('%ymm')) ymm++;
      if (operands.includes('%zmm')) zmm++;
      continue;
    }
    const seen = offenders.get(fn);
    if (seen) seen[0]++;
    else offenders.set(fn, [1, `${mnemonic} ${operands}`.trim()]);
  }
  const problems = [];
  if (offenders.size > 0) {
    const names = [...offenders.keys()];
    const demangled = spawnSync('c++filt', { input: names.join('\n'), encoding: 'utf8' });
    const shown = demangled.status === 0 ? demangled.stdout.split('\n') : names;
    const list = names.slice(0, 12).map((n, i) => `    ${shown[i] ?? n}: ${offenders.get(n)[0]} instructions, e.g. ${offenders.get(n)[1]}`);
    problems.push(`${offenders.size} functions outside the ISA-specific kernels contain AVX/AVX-512/BMI instructions ` +
      `(they may run before the CPU is checked):\n${list.join('\n')}${names.length > 12 ? `\n    ... ${names.length - 12} more` : ''}`);
  }
  if (isaFunctions === 0) problems.push('no function symbols of the ISA kernels: the binary is stripped or lacks them');
  else if (ymm === 0 || zmm === 0) problems.push(`the ISA kernels hold no ${ymm === 0 ? 'ymm (AVX2)' : 'zmm (AVX-512)'} code`);
  return {
    problems,
    summary: `${functions} functions disassembled; ${isaFunctions} ISA-kernel functions (${ymm} ymm, ${zmm} zmm ` +
      `instructions); ${offenders.size} other functions with AVX-class instructions`,
  };
}

/** Both checks; returns the list of problems (empty: portable) and prints what was checked. */
export function checkPortable(file, target, log = console.log) {
  if (!fs.existsSync(file)) return [`${file} does not exist (run npm run build)`];
  let info;
  try {
    info = probeAddon(file);
  } catch (error) {
    return [String(error.message)];
  }
  const problems = checkBuildInfo(info.buildInfo, target);
  const b = info.buildInfo ?? {};
  log(`  build info: ${b.compiler}, ${b.arch}; baseline ISA extensions: core '${b.baselineIsa}', binding ` +
    `'${b.bindingIsa}'; kernel paths: ${b.kernelPaths}`);
  if (target.endsWith('-x64')) {
    const dis = checkDisassembly(file);
    if (dis) {
      log(`  disassembly: ${dis.summary}`);
      problems.push(...dis.problems);
    } else {
      log('  disassembly: skipped (needs an ELF binary and objdump; the build-info check stands alone)');
    }
  }
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  const t = process.argv.indexOf('--target');
  const target = t > 0 ? process.argv[t + 1] : `${process.platform}-${process.arch}`;
  if (!file) {
    console.error('usage: node scripts/check-portable.mjs FILE.node [--target linux-x64]');
    process.exit(2);
  }
  console.log(`check-portable: ${file} (${target})`);
  const problems = checkPortable(file, target);
  for (const p of problems) console.log(`  FAIL  ${p}`);
  console.log(problems.length === 0 ? 'check-portable: ok' : `check-portable: ${problems.length} problems`);
  process.exit(problems.length === 0 ? 0 : 1);
}
