// Load a GGUF made by tools/train with llama.cpp (node-llama-cpp) and compare its tokenizer and greedy
// decoding with the golden JSON written by check_gguf.py --golden.
//   node tools/train/check_llamacpp.mjs MODEL.gguf GOLDEN.json [path/to/node_modules/node-llama-cpp]
import {pathToFileURL} from 'node:url';
import fs from 'node:fs';
import path from 'node:path';
const [,, modelPath, goldenPath, nlcDir] = process.argv;
const mod = nlcDir ? await import(pathToFileURL(path.join(nlcDir, 'dist', 'index.js')).href) : await import('node-llama-cpp');
const {getLlama} = mod;
const golden = JSON.parse(fs.readFileSync(goldenPath, 'utf8'));
const llama = await getLlama({gpu: false, build: 'never', logLevel: 'error'});
const model = await llama.loadModel({modelPath});
let fail = 0;
let ntok = 0;
for (const c of golden.tokenize) {
  const got = Array.from(model.tokenize(c.text, false));
  ntok += got.length;
  if (JSON.stringify(got) !== JSON.stringify(c.ids)) {
    fail++;
    let i = 0; while (i < got.length && got[i] === c.ids[i]) i++;
    console.log(`TOKENIZE MISMATCH ${c.path} at ${i}: llama.cpp ${got.slice(i, i + 5)} vs ours ${c.ids.slice(i, i + 5)}`);
  }
}
console.log(`tokenizer: ${golden.tokenize.length - fail}/${golden.tokenize.length} texts identical (${ntok} tokens)`);
let gfail = 0;
for (const g of golden.greedy) {
  const ctx = await model.createContext({contextSize: 512, threads: 1});
  const seq = ctx.getSequence();
  const out = [];
  // llama.cpp's generator ends at an end-of-generation token without yielding it
  const want = g.ends_with_eos ? g.greedy.slice(0, -1) : g.greedy;
  for await (const t of seq.evaluate(g.prompt, {temperature: 0})) {
    out.push(t);
    if (out.length >= g.greedy.length) break;
  }
  const same = JSON.stringify(out) === JSON.stringify(want);
  if (!same) gfail++;
  console.log(`greedy ${g.prompt.length}-token prompt: llama.cpp ${same ? 'identical to' : 'DIFFERS from'} torch (${out.length} tokens${g.ends_with_eos ? ', then end of generation' : ''})${same ? '' : '\n  llama.cpp ' + out + '\n  torch     ' + want}`);
  await ctx.dispose();
}
console.log(`train ctx ${model.trainContextSize}; FIM tokens: pre ${model.tokens.infill.prefix} suf ${model.tokens.infill.suffix} mid ${model.tokens.infill.middle}; eos ${model.tokens.eos}`);
await model.dispose();
process.exit(fail + gfail ? 1 : 0);
