// llama.cpp (node-llama-cpp) as the reference, shared by parity.mjs and mxfp4-interop.mjs.
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

/** The prebuilt CPU llama.cpp; never builds, never uses a GPU. */
export function loadLlama() {
  return getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error });
}

/**
 * llama.cpp's greedy continuation of `promptIds` (up to `generate` tokens or end of generation), then teacher
 * forcing on prompt + continuation: the top-1 token and the top-2 logit margin (ln p1/p2) after every position.
 */
export async function llamaGreedyAndMargins(model, promptIds, { threads, contextSize, generate }) {
  const context = await model.createContext({ contextSize, threads, batchSize: contextSize });
  try {
    const seq = context.getSequence();
    const generated = [];
    for await (const token of seq.evaluate(promptIds, { temperature: 0 })) {
      generated.push(token);
      if (model.isEogToken(token) || generated.length >= generate) break;
    }
    await seq.clearHistory();
    const all = [...promptIds, ...generated];
    const out = await seq.controlledEvaluate(all.map((t) => [t, { generateNext: { probabilities: true } }]));
    const top1 = [];
    const margin = [];
    for (const o of out) {
      const entries = [...o.next.probabilities.entries()];
      top1.push(entries[0][0]);
      const p2 = entries.length > 1 ? entries[1][1] : 0;
      margin.push(p2 > 0 ? Math.log(entries[0][1] / p2) : Infinity);
    }
    return { generated, all, top1, margin };
  } finally {
    await context.dispose();
  }
}
