// The recommended models for "SpecQD: Download Recommended Model": base (not instruct) Qwen2.5-Coder GGUFs in
// F16, the target precision SpecQD speeds up with its MXFP4 draft copy. Base models are the ones trained for
// fill-in-the-middle. The SHA-256 of each file is taken from the server's X-Linked-Etag when none is listed here.

export interface RecommendedModel {
  /** Shown in the picker. */
  label: string;
  detail: string;
  url: string;
  /** Name of the file in the extension's global storage. */
  fileName: string;
  /** Expected SHA-256 (hex), when known. */
  sha256?: string;
  /** Approximate size, for the picker. */
  bytes: number;
}

const hf = (repo: string, file: string): string => `https://huggingface.co/${repo}/resolve/main/${file}?download=true`;

export const recommendedModels: readonly RecommendedModel[] = [
  {
    label: 'Qwen2.5-Coder 0.5B (F16)',
    detail: 'fastest; about 1 GB',
    url: hf('Qwen/Qwen2.5-Coder-0.5B-GGUF', 'qwen2.5-coder-0.5b-fp16.gguf'),
    fileName: 'qwen2.5-coder-0.5b-f16.gguf',
    bytes: 994_000_000,
  },
  {
    label: 'Qwen2.5-Coder 1.5B (F16)',
    detail: 'balanced; about 3.1 GB',
    url: hf('Qwen/Qwen2.5-Coder-1.5B-GGUF', 'qwen2.5-coder-1.5b-fp16.gguf'),
    fileName: 'qwen2.5-coder-1.5b-f16.gguf',
    bytes: 3_090_000_000,
  },
  {
    label: 'Qwen2.5-Coder 3B (F16)',
    detail: 'best completions; about 6.2 GB',
    url: hf('Qwen/Qwen2.5-Coder-3B-GGUF', 'qwen2.5-coder-3b-fp16.gguf'),
    fileName: 'qwen2.5-coder-3b-f16.gguf',
    bytes: 6_180_000_000,
  },
];

/** A human size: 1.2 GB, 340 MB, 12 KB. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} KB`;
  return `${bytes} B`;
}
