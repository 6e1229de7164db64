// llama.cpp through node-llama-cpp 3.21.1 (test/parity/node_modules, its prebuilt CPU binary with run-time CPU
// variants): the benchmark's fallback when llama-bench / llama-speculative-simple were not built. Called by
// `specqd bench` as a child process; reads one JSON request from argv[2], prints one JSON result.
//
//   {"mode": "costs", "model", "threads", "decode", "prefill": [..], "verify": [..], "depth", "reps"}
//     -> {"decodeTokensPerSecond", "prefill": [{tokens, tokensPerSecond}], "verify": [{k, ms, ratio}], "binary"}
//        measured like bench-forward: decode after `depth` tokens, prefill from an empty cache, one pass of k tokens
//        after `depth` tokens (node-llama-cpp asks for the last token's logits only, as llama-bench does).
//   {"mode": "speculative", "target", "draft", "threads", "prompts": [text], "maxTokens"}
//     -> greedy decode time with and without DraftSequenceTokenPredictor (draft model, up to 8 tokens).
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'test', 'parity', 'package.json'));
const { getLlama, LlamaLogLevel, DraftSequenceTokenPredictor } = await import(require.resolve('node-llama-cpp'));

const request = JSON.parse(process.argv[2]);
const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error });
const now = () => performance.now();
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function costs() {
  const { model: file, threads, decode, prefill, verify, depth, reps } = request;
  const model = await llama.loadModel({ modelPath: file });
  const maxBatch = Math.max(16, ...prefill, ...verify);
  const context = await model.createContext({ contextSize: Math.max(maxBatch, depth + decode + 16) + 16, threads, batchSize: maxBatch, sequences: 1 });
  const seq = context.getSequence();
  let seed = 1234;
  const tokens = Array.from({ length: maxBatch + depth + decode + 16 }, () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % 4000;
  });
  const decodeTps = [];
  const prefillMs = prefill.map(() => []);
  const verifyMs = verify.map(() => []);
  // warm-up
  await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 8));
  for (let r = 0; r < reps; r++) {
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, depth));
    let n = 0;
    const t0 = now();
    for await (const _ of seq.evaluate([tokens[depth]], { temperature: 0 })) {
      if (++n >= decode) break;
    }
    decodeTps.push((decode * 1000) / (now() - t0));
    for (const [i, p] of prefill.entries()) {
      await seq.clearHistory();
      const t = now();
      await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, p));
      prefillMs[i].push(now() - t);
    }
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, depth));
    // One untimed pass first, as bench-forward does, so the first timed k does not pay for the pause after the fill.
    await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(depth, depth + verify[verify.length - 1]));
    await seq.eraseContextTokenRanges([{ start: depth, end: depth + verify[verify.length - 1] }]);
    for (const [i, k] of verify.entries()) {
      const t = now();
      await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(depth, depth + k));
      verifyMs[i].push(now() - t);
      await seq.eraseContextTokenRanges([{ start: depth, end: depth + k }]);
    }
  }
  const base = median(verifyMs[0] ?? [NaN]);
  await context.dispose();
  await model.dispose();
  return {
    decodeTokensPerSecond: median(decodeTps),
    prefill: prefill.map((p, i) => ({ tokens: p, tokensPerSecond: (p * 1000) / median(prefillMs[i]) })),
    verify: verify.map((k, i) => ({ k, ms: median(verifyMs[i]), ratio: median(verifyMs[i]) / base })),
  };
}

async function speculative() {
  const { target, draft, threads, prompts, maxTokens } = request;
  const model = await llama.loadModel({ modelPath: target });
  const draftModel = await llama.loadModel({ modelPath: draft });
  const result = { plainMs: 0, specMs: 0, tokens: 0, validated: 0, refuted: 0, identical: 0, prompts: prompts.length };
  for (const text of prompts) {
    const ids = model.tokenize(text, true);
    const outputs = [];
    for (const withDraft of [false, true]) {
      const draftContext = withDraft ? await draftModel.createContext({ contextSize: 1024, threads, sequences: 1 }) : undefined;
      const context = await model.createContext({ contextSize: 1024, threads, sequences: 1 });
      const seq = context.getSequence(draftContext ? { tokenPredictor: new DraftSequenceTokenPredictor(draftContext.getSequence(), { maxTokens: 8, minTokens: 0 }) } : {});
      await seq.evaluateWithoutGeneratingNewTokens(ids.slice(0, -1));
      const out = [];
      const t0 = now();
      for await (const token of seq.evaluate(ids.slice(-1), { temperature: 0 })) {
        out.push(token);
        if (out.length >= maxTokens) break;
      }
      const ms = now() - t0;
      if (withDraft) {
        result.specMs += ms;
        result.validated += seq.tokenPredictions.validated;
        result.refuted += seq.tokenPredictions.refuted;
      } else {
        result.plainMs += ms;
        result.tokens += out.length;
      }
      outputs.push(out);
      await context.dispose();
      await draftContext?.dispose();
    }
    if (outputs[0].length === outputs[1].length && outputs[0].every((t, i) => t === outputs[1][i])) result.identical++;
  }
  return result;
}

const out = request.mode === 'costs' ? await costs() : await speculative();
process.stdout.write(`${JSON.stringify({ ...out, binary: 'node-llama-cpp 3.21.1 prebuilt (llama.cpp 0.4.0, CPU variants chosen at run time)' })}\n`);
process.exit(0);
