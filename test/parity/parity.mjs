// Parity with llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU binary) on the same GGUF files and thread count.
//
//   - Prompt token ids must be identical for every model and prompt.
//   - F32 stories260K: greedy ids must be identical (its choices are decisive).
//   - Other weight types (F16, BF16, Q8_0 copies written by our converter) and the trained qwen2 fixture models:
//     llama.cpp rounds activations (to F16/BF16, or 8 bits for Q8_0) and keeps its KV cache in F16, so near-ties may
//     legitimately flip. There both engines are fed llama.cpp's greedy tokens (teacher forcing) and must pick the
//     same top-1 token wherever llama.cpp's top-2 logit margin exceeds MARGIN; agreement elsewhere is reported.
//
// Usage: node test/parity/parity.mjs [--json OUT]   (needs `npm run build` and `tsc -p .` output in out/)
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
const { Engine, convert } = require(path.join(root, 'out', 'extension', 'engine.js'));

const MARGIN = 0.5;        // logits: above this llama.cpp's choice is not a near-tie, and ours must agree
const THREADS = 2;
const GENERATE = 32;       // greedy tokens per prompt
const CONTEXT = 512;

const STORY_PROMPTS = ['Once upon a time', 'The little dog', 'Lily and Ben went to the park. They', 'One day, a bird'];
const CODE_PROMPTS = [
  { prefix: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))\n' },
  { prefix: 'import os\n\n\ndef read_file(path):\n    with open(path) as f:\n', suffix: '\n' },
  { prefix: 'function greet(name) {\n  return ', suffix: ';\n}\n' },
  { prefix: 'for (let i = 0; i < items.length; i++) {\n', suffix: '\n}\n' },
];

const failures = [];
const report = [];
const fail = (what) => {
  failures.push(what);
  console.log(`  FAIL ${what}`);
};

const llama = await loadLlama();

// Greedy generation in llama.cpp, and the top-1 and top-2 margin at every position of a token sequence.
const llamaRun = (model, promptIds) =>
  llamaGreedyAndMargins(model, promptIds, { threads: THREADS, contextSize: CONTEXT, generate: GENERATE });

async function compareModel(label, file, prompts, exactGreedy) {
  console.log(`\n${label}: ${path.basename(file)}`);
  const model = await llama.loadModel({ modelPath: file });
  const engine = await Engine.load({ target: file, threads: THREADS, contextLength: CONTEXT });
  const entry = { label, file: path.basename(file), prompts: 0, promptIdsEqual: 0, greedyEqual: 0, decisive: 0, decisiveAgree: 0, nearTie: 0, nearTieAgree: 0 };
  try {
    for (const prompt of prompts) {
      entry.prompts += 1;
      const ours = await engine.complete({ ...(typeof prompt === 'string' ? { prompt } : prompt), maxTokens: GENERATE });
      // llama.cpp's prompt: BOS as the model says, then the text (FIM: markers around prefix and suffix).
      let theirs;
      if (typeof prompt === 'string') {
        theirs = [...(model.tokens.shouldPrependBosToken ? [model.tokens.bos] : []), ...model.tokenize(prompt)];
      } else {
        const fim = model.tokens.infill;
        theirs = [
          ...(model.tokens.shouldPrependBosToken ? [model.tokens.bos] : []),
          fim.prefix, ...model.tokenize(prompt.prefix), fim.suffix, ...model.tokenize(prompt.suffix), fim.middle,
        ];
      }
      if (JSON.stringify(theirs) === JSON.stringify(ours.promptTokens)) entry.promptIdsEqual += 1;
      else fail(`${label}: prompt ids differ for ${JSON.stringify(prompt)}: ours ${ours.promptTokens} vs llama.cpp ${theirs}`);

      const ref = await llamaRun(model, theirs);
      const ourGreedy = ours.tokens.slice(0, ref.generated.length);
      const greedySame = JSON.stringify(ourGreedy) === JSON.stringify(ref.generated);
      if (greedySame) entry.greedyEqual += 1;
      if (exactGreedy && !greedySame) fail(`${label}: greedy ids differ for ${JSON.stringify(prompt)}: ours ${ourGreedy} vs llama.cpp ${ref.generated}`);

      // Teacher forcing on llama.cpp's sequence: positions from the last prompt token on predict generated tokens.
      const mine = await engine.evaluate(ref.all);
      for (let i = theirs.length - 1; i < ref.all.length; i++) {
        const agree = mine.top1[i] === ref.top1[i];
        if (ref.margin[i] > MARGIN) {
          entry.decisive += 1;
          if (agree) entry.decisiveAgree += 1;
          else fail(`${label}: position ${i} of ${JSON.stringify(prompt)}: ours ${mine.top1[i]} vs llama.cpp ${ref.top1[i]} (llama.cpp margin ${ref.margin[i].toFixed(3)})`);
        } else {
          entry.nearTie += 1;
          if (agree) entry.nearTieAgree += 1;
        }
      }
    }
  } finally {
    engine.close();
    await model.dispose();
  }
  console.log(
    `  prompt ids equal ${entry.promptIdsEqual}/${entry.prompts}; greedy equal ${entry.greedyEqual}/${entry.prompts}; ` +
      `top-1 agreement where margin > ${MARGIN}: ${entry.decisiveAgree}/${entry.decisive}; near ties: ${entry.nearTieAgree}/${entry.nearTie}`,
  );
  report.push(entry);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-parity-'));
try {
  const stories = path.join(shared, 'models', 'stories260K.gguf');
  await compareModel('stories260K F32', stories, STORY_PROMPTS, true);
  for (const type of ['f16', 'bf16', 'q8_0']) {
    const file = path.join(tmp, `stories260K-${type}.gguf`);
    await convert(stories, file, { type });
    await compareModel(`stories260K ${type.toUpperCase()}`, file, STORY_PROMPTS, false);
  }
  const fixtures = path.join(root, 'test', 'fixtures', 'models');
  const codeModels = fs.existsSync(fixtures) ? fs.readdirSync(fixtures).filter((f) => f.endsWith('.gguf')).sort() : [];
  for (const f of codeModels) {
    await compareModel(`${f} (qwen2)`, path.join(fixtures, f), CODE_PROMPTS, false);
    const bf16 = path.join(tmp, f.replace(/\.gguf$/, '-bf16.gguf'));
    await convert(path.join(fixtures, f), bf16, { type: 'bf16' });
    await compareModel(`${f} BF16`, bf16, CODE_PROMPTS, false);
  }
  if (codeModels.length === 0) console.log('\n(no trained qwen2 fixture models under test/fixtures/models yet)');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
  await llama.dispose();
}

const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0) fs.writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ margin: MARGIN, report, failures }, null, 2));
console.log(`\nparity: ${report.length} model files compared`);
console.log(`${report.length - new Set(failures.map((f) => f.split(':')[0])).size} passed, ${new Set(failures.map((f) => f.split(':')[0])).size} failed`);
process.exit(failures.length === 0 ? 0 : 1);
