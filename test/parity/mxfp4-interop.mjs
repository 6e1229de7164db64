// MXFP4 interop with llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binary), both ways:
//
//   1. llama.cpp loads the MXFP4 GGUF written by our `quantize()` and generates sensible text: its greedy text is
//      printed, must be words, and teacher-forced on llama.cpp's own sequence our engine (same file) must pick the
//      same top-1 token wherever llama.cpp's top-2 logit margin exceeds MARGIN (llama.cpp rounds the activations
//      to 8 bits for MXFP4 and keeps its KV cache in F16, so near-ties may flip; they are counted, not failed).
//   2. Our engine loads an MXFP4 GGUF made by llama.cpp's own quantizer (llama_model_quantize from the prebuilt
//      libllama, ftype MOSTLY_MXFP4_MOE with pure = true — see llama-quantize-mxfp4.cpp; built here with g++ against
//      the headers in node-llama-cpp's source bundle), runs it, and the MXFP4 tensors both quantizers wrote must be
//      byte-identical. Skipped (and said so) when git or g++ is missing.
//
// Models: stories260K (shared) and every trained qwen2 fixture under test/fixtures/models.
// Usage: node test/parity/mxfp4-interop.mjs   (needs `npm run build` and `tsc -p .` output in out/)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { llamaGreedyAndMargins, loadLlama } from './llama-reference.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const shared = process.env.SPECQD_SHARED_DIR ?? path.resolve(root, '..', 'shared');
const require = createRequire(import.meta.url);
const { Engine, quantize } = require(path.join(root, 'out', 'extension', 'engine.js'));

const MARGIN = 0.5;
const THREADS = 2;
const GENERATE = 32;
const CONTEXT = 512;

const failures = [];
const fail = (what) => {
  failures.push(what);
  console.log(`  FAIL ${what}`);
};

// ---- A minimal GGUF reader: tensor name -> { type, bytes } (enough to compare MXFP4 tensors). ----
function readTensors(file) {
  const b = fs.readFileSync(file);
  let o = 8;
  const nTensors = Number(b.readBigUInt64LE(o));
  const nKv = Number(b.readBigUInt64LE(o + 8));
  o += 16;
  const str = () => {
    const n = Number(b.readBigUInt64LE(o));
    const s = b.toString('utf8', o + 8, o + 8 + n);
    o += 8 + n;
    return s;
  };
  const scalarSize = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  let alignment = 32;
  const value = (t) => {
    if (t === 8) return str();
    if (t === 9) {
      const et = b.readUInt32LE(o);
      const n = Number(b.readBigUInt64LE(o + 4));
      o += 12;
      for (let i = 0; i < n; i++) value(et);
      return undefined;
    }
    const v = t === 4 ? b.readUInt32LE(o) : undefined;
    o += scalarSize[t];
    return v;
  };
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const t = b.readUInt32LE(o);
    o += 4;
    const v = value(t);
    if (key === 'general.alignment') alignment = v;
  }
  const infos = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nd = b.readUInt32LE(o);
    o += 4;
    let n = 1;
    for (let d = 0; d < nd; d++) n *= Number(b.readBigUInt64LE(o + 8 * d));
    o += 8 * nd;
    const type = b.readUInt32LE(o);
    const offset = Number(b.readBigUInt64LE(o + 4));
    o += 12;
    infos.push({ name, n, type, offset });
  }
  const start = Math.ceil(o / alignment) * alignment;
  const out = new Map();
  for (const t of infos) {
    const size = t.type === 39 ? (t.n / 32) * 17 : 0;
    out.set(t.name, { type: t.type, bytes: size ? b.subarray(start + t.offset, start + t.offset + size) : null });
  }
  return out;
}

const llama = await loadLlama();

const llamaRun = (model, promptIds) =>
  llamaGreedyAndMargins(model, promptIds, { threads: THREADS, contextSize: CONTEXT, generate: GENERATE });

// llama.cpp and our engine on the same MXFP4 file: llama.cpp's greedy text, and top-1 agreement on its sequence.
async function runBoth(label, file, prompt, wordsOnly) {
  const model = await llama.loadModel({ modelPath: file });
  const engine = await Engine.load({ target: file, threads: THREADS, contextLength: CONTEXT });
  try {
    const ours = await engine.complete({ ...prompt, maxTokens: GENERATE });
    const ids = ours.promptTokens;
    const ref = await llamaRun(model, ids);
    const text = model.detokenize(ref.generated);
    console.log(`  llama.cpp greedy: ${JSON.stringify(text)}`);
    console.log(`  ours (same file): ${JSON.stringify(ours.text)}`);
    if (ref.generated.length < 4) fail(`${label}: llama.cpp generated only ${ref.generated.length} tokens`);
    if (wordsOnly && !/^[\w\s,.'"!?;:-]+$/.test(text)) fail(`${label}: llama.cpp's text is not words: ${JSON.stringify(text)}`);
    const mine = await engine.evaluate(ref.all);
    let decisive = 0;
    let agree = 0;
    let ties = 0;
    let tiesAgree = 0;
    for (let i = ids.length - 1; i < ref.all.length; i++) {
      const same = mine.top1[i] === ref.top1[i];
      if (ref.margin[i] > MARGIN) {
        decisive += 1;
        if (same) agree += 1;
        else fail(`${label}: position ${i}: ours ${mine.top1[i]} vs llama.cpp ${ref.top1[i]} (margin ${ref.margin[i].toFixed(3)})`);
      } else {
        ties += 1;
        if (same) tiesAgree += 1;
      }
    }
    console.log(`  top-1 agreement where llama.cpp's margin > ${MARGIN}: ${agree}/${decisive}; near ties ${tiesAgree}/${ties}`);
  } finally {
    engine.close();
    await model.dispose();
  }
}

// Builds the llama.cpp quantizer helper; null (with the reason printed) when it cannot be built here.
function buildLlamaQuantizer(tmp) {
  const pkg = path.join(here, 'node_modules', 'node-llama-cpp', 'llama');
  const bins = path.join(here, 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64');
  const src = path.join(tmp, 'llama.cpp');
  const clone = spawnSync('git', ['clone', '-q', path.join(pkg, 'gitRelease.bundle'), src], { encoding: 'utf8' });
  if (clone.status !== 0) {
    console.log(`  (skipped: cannot clone llama.cpp's source bundle: ${clone.stderr || clone.error})`);
    return null;
  }
  const exe = path.join(tmp, 'llama-quantize-mxfp4');
  const libs = ['libllama.v0.4.0.so', 'libggml.v0.4.0.so', 'libggml-base.so'].map((l) => path.join(bins, l));
  const cc = spawnSync('g++', ['-std=c++17', '-O1', `-I${src}/include`, `-I${src}/ggml/include`,
    path.join(here, 'llama-quantize-mxfp4.cpp'), '-o', exe, ...libs, `-Wl,-rpath,${bins}`], { encoding: 'utf8' });
  if (cc.status !== 0) {
    console.log(`  (skipped: cannot build the llama.cpp quantizer helper: ${cc.stderr || cc.error})`);
    return null;
  }
  return exe;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-mxfp4-interop-'));
let compared = 0;
try {
  const models = [{ file: path.join(shared, 'models', 'stories260K.gguf'), prompt: { prompt: 'Once upon a time' }, words: true }];
  const fixtures = path.join(root, 'test', 'fixtures', 'models');
  if (fs.existsSync(fixtures)) {
    for (const f of fs.readdirSync(fixtures).filter((x) => x.endsWith('.gguf')).sort()) {
      models.push({
        file: path.join(fixtures, f),
        prompt: { prefix: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))\n' },
        words: false,
      });
    }
  }
  const quantizer = buildLlamaQuantizer(tmp);
  for (const m of models) {
    const name = path.basename(m.file, '.gguf');
    const ours = path.join(tmp, `${name}-specqd-mxfp4.gguf`);
    const report = await quantize(m.file, ours);
    console.log(`\n${name}: our MXFP4 file (${report.converted} matrices cast; kept ${report.kept.length}) in llama.cpp`);
    await runBoth(`${name} (ours, in llama.cpp)`, ours, m.prompt, m.words);
    compared += 1;
    if (quantizer) {
      const theirs = path.join(tmp, `${name}-llama-mxfp4.gguf`);
      const q = spawnSync(quantizer, [m.file, theirs], { encoding: 'utf8' });
      if (q.status !== 0) {
        fail(`${name}: llama.cpp's quantizer failed: ${q.stderr.slice(-400)}`);
        continue;
      }
      console.log(`${name}: llama.cpp's MXFP4 file in our engine`);
      const a = readTensors(ours);
      const b = readTensors(theirs);
      let same = 0;
      let differ = 0;
      for (const [tensor, t] of a) {
        const u = b.get(tensor);
        if (t.type !== 39 || u?.type !== 39) continue;
        if (Buffer.compare(t.bytes, u.bytes) === 0) same += 1;
        else {
          differ += 1;
          fail(`${name}: MXFP4 tensor ${tensor} differs between our quantizer and llama.cpp's`);
        }
      }
      console.log(`  MXFP4 tensors written by both quantizers: ${same} byte-identical, ${differ} different`);
      await runBoth(`${name} (llama.cpp's, in ours)`, theirs, m.prompt, m.words);
      compared += 1;
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
  await llama.dispose();
}

console.log(`\nmxfp4 interop: ${compared} files run in both engines, ${failures.length} failures`);
process.exit(failures.length === 0 ? 0 : 1);
