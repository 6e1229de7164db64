// Test: zero-padded widening preserves the trained model's function (make-bench-model widen).
//
// The fixture coder is widened to a shape that exercises every part of the construction — more hidden dims, more
// layers, more query heads per KV group, heads 4× as wide (RoPE pairs spread out, W_q × 2), more FFN units, and a
// vocabulary padded with copies of real rows — in F32 and in BF16. Each widened model must give exactly the greedy
// tokens of the small model cast the same way (`--shape keep`), on FIM prompts cut from held-out files. Float
// arithmetic is not bit-exact across the two shapes (RMSNorm means over other counts, eps rescaled), so the test
// also prints the teacher-forced agreement; it fails on any greedy difference.
//
// usage: node bench/test-widen.mjs [--target M.gguf]   (needs `npm run build`: dist/, build/native/make-bench-model)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const target = args.includes('--target') ? args[args.indexOf('--target') + 1] : path.join(root, 'test/fixtures/models/tiny-coder.gguf');
const toolDirs = [process.env.SPECQD_TOOLS_DIR, path.join(root, 'build/native'), path.join(root, 'build-native')].filter(Boolean);
const tool = toolDirs.map((d) => path.join(d, 'make-bench-model')).find((p) => fs.existsSync(p));
if (!tool) {
  console.error(`test-widen: make-bench-model not built (looked in ${toolDirs.join(', ')})`);
  process.exit(1);
}
const specqd = path.join(root, 'bin/specqd');

function run(file, argv) {
  const r = spawnSync(file, argv, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${path.basename(file)} ${argv.join(' ')} (exit ${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

const hp = JSON.parse(run(specqd, ['inspect', target, '--json'])).hparams;
const group = hp.headCount / hp.headCountKv;
// Bigger in every dimension the construction handles (the embedding a multiple of 32 × the head count).
const heads = hp.headCountKv * (group + 1);
const embd = Math.ceil((2 * hp.embeddingLength + 32) / (32 * heads)) * 32 * heads;
const shape = `custom:${embd},${hp.blockCount + 2},${heads},${hp.headCountKv},${4 * hp.headDim},${2 * hp.feedForwardLength + 64}`;
const padVocab = String(hp.vocabularyRows * 2 + 96);

// FIM prompts: fixed cuts of held-out files.
const heldout = path.join(root, 'test/fixtures/heldout/files');
const files = fs.readdirSync(heldout).sort().filter((_, i) => i % 9 === 0).slice(0, 6);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-widen-'));
let failures = 0;
try {
  const prompts = files.map((name, i) => {
    const text = fs.readFileSync(path.join(heldout, name), 'utf8');
    const cut = text.indexOf('\n', Math.floor(text.length * (0.3 + 0.1 * i))) + 1;
    const prefix = path.join(tmp, `p${i}.prefix`);
    const suffix = path.join(tmp, `p${i}.suffix`);
    fs.writeFileSync(prefix, text.slice(Math.max(0, cut - 600), cut));
    fs.writeFileSync(suffix, text.slice(cut, cut + 200));
    return { name: `${name}@${cut}`, prefix, suffix };
  });
  const complete = (model, p) =>
    JSON.parse(run(specqd, ['complete', '--model', model, '--prefix-file', p.prefix, '--suffix-file', p.suffix, '--max-tokens', '48', '--threads', '2', '--json'])).tokens;

  for (const type of ['f32', 'bf16']) {
    const small = path.join(tmp, `small-${type}.gguf`);
    const wide = path.join(tmp, `wide-${type}.gguf`);
    run(tool, ['widen', target, small, '--shape', 'keep', '--type', type]);
    console.log(run(tool, ['widen', target, wide, '--shape', shape, '--type', type, '--pad-vocab', padVocab]).trim());
    let same = 0;
    for (const p of prompts) {
      const a = complete(small, p);
      const b = complete(wide, p);
      const ok = a.length === b.length && a.every((t, i) => t === b[i]);
      if (ok) same++;
      else {
        failures++;
        const at = a.findIndex((t, i) => t !== b[i]);
        console.log(`  FAIL ${type} ${p.name}: first difference at generated token ${at} (small ${a[at]}, wide ${b[at]})`);
      }
      if (b.some((t) => t >= hp.vocabularyRows)) {
        failures++;
        console.log(`  FAIL ${type} ${p.name}: a padded vocabulary row was chosen`);
      }
    }
    console.log(`${type}: widened model (${shape}, vocab ${padVocab}) gave the small model's greedy tokens on ${same}/${prompts.length} prompts`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(failures ? `test-widen: ${failures} failure(s)` : 'test-widen: ok');
process.exit(failures ? 1 : 0);
