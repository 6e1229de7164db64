// Human-readable formatting for the CLI. Pure functions: unit-tested in plain Node.
import type { ModelInspection } from '../engine';

/** 1536 -> "1.5 KiB"; exact bytes below 1 KiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** 494032768 -> "494.0M". */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatInspection(r: ModelInspection): string {
  const lines: string[] = [];
  lines.push(`file          ${r.path} (${formatBytes(r.fileSize)}, GGUF v${r.ggufVersion})`);
  lines.push(`architecture  ${r.architecture || '(none)'}${r.supported ? '' : `  — not supported: ${r.unsupportedReason ?? ''}`}`);
  const h = r.hparams;
  if (h) {
    if (h.name) lines.push(`name          ${h.name}`);
    lines.push(
      `shape         ${h.blockCount} blocks, embedding ${h.embeddingLength}, feed-forward ${h.feedForwardLength}, ` +
        `heads ${h.headCount} (KV ${h.headCountKv}, dim ${h.headDim})`,
    );
    lines.push(
      `rope          ${h.ropeDimensionCount} dims, base ${h.ropeFreqBase}; rms eps ${h.rmsEpsilon}; ` +
        `context ${h.contextLength}${h.qkvBias ? '; q/k/v bias' : ''}${h.tiedOutput ? '; tied output head' : ''}`,
    );
  }
  lines.push(`tensors       ${r.tensorCount}, ${formatCount(r.parameters)} parameters, ${formatBytes(r.tensorBytes)}`);
  for (const t of r.tensorTypes) {
    lines.push(`  ${t.type.padEnd(8)}  ${String(t.count).padStart(5)} tensors  ${formatBytes(t.bytes).padStart(10)}`);
  }
  const tok = r.tokenizer;
  if (tok.ok) {
    lines.push(`tokenizer     ${tok.model}${tok.pre ? ` (${tok.pre})` : ''}, ${tok.size} tokens, bos ${tok.bos}, eos ${tok.eos}`);
    lines.push(
      `fill-in-middle ${tok.fim.supported ? `yes (prefix ${tok.fim.prefix}, suffix ${tok.fim.suffix}, middle ${tok.fim.middle})` : 'no'}`,
    );
  } else {
    lines.push(`tokenizer     ${tok.model || '(none)'} — unusable: ${tok.error ?? ''}`);
  }
  if (r.memory) {
    lines.push(
      `memory        ~${formatBytes(r.memory.estimatedBytes)} at ${r.memory.contextLength} tokens of context ` +
        `(KV ${formatBytes(r.memory.kvBytesPerToken)} per token)`,
    );
  }
  return lines.join('\n');
}
