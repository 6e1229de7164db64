// The engine facade: the only module that loads the native addon. It validates arguments, gives the typed API of
// DESIGN.md, and turns the addon's plain objects into these types. Nothing here imports `vscode`, so the CLI and
// plain-Node tests use it too.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** How a tensor type contributes to a model file. */
export interface TensorTypeSummary {
  type: string;
  count: number;
  bytes: number;
}

export interface ModelHparams {
  name: string;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  feedForwardLength: number;
  headCount: number;
  headCountKv: number;
  headDim: number;
  ropeDimensionCount: number;
  ropeFreqBase: number;
  rmsEpsilon: number;
  vocabularyRows: number;
  qkvBias: boolean;
  tiedOutput: boolean;
}

export interface TokenizerSummary {
  model: string;
  pre: string;
  ok: boolean;
  error?: string;
  size: number;
  bos: number;
  eos: number;
  fim: { supported: boolean; prefix: number; suffix: number; middle: number };
}

/** What `inspect()` learns about a GGUF file without loading its weights. */
export interface ModelInspection {
  path: string;
  fileSize: number;
  ggufVersion: number;
  metadataCount: number;
  tensorCount: number;
  architecture: string;
  supported: boolean;
  unsupportedReason?: string;
  hparams?: ModelHparams;
  tensorTypes: TensorTypeSummary[];
  tensorBytes: number;
  parameters: number;
  tokenizer: TokenizerSummary;
  memory?: { contextLength: number; kvBytesPerToken: number; estimatedBytes: number };
}

export interface EngineOptions {
  /** Path of the target model (GGUF: F32, F16, BF16 or Q8_0 weights). */
  target: string;
  /** Compute threads; default one per core, at most 8. */
  threads?: number;
  /** Tokens of context; default the model's training context, at most 4096. */
  contextLength?: number;
  /** A smaller model with the same tokenizer, for the "draft" level. */
  draft?: string;
  /** The speculation stack, top first, e.g. ['target', 'draft', 'ngram']. Default: the target alone. */
  levels?: SpeculationLevel[];
  /** Tune draft lengths online from measured acceptance and costs (default); false: a fixed 8. */
  adaptiveDrafts?: boolean;
  /** The most tokens a level drafts per round, 1 to 16 (default 16); the online tuning chooses up to it. */
  maxDraft?: number;
  /**
   * The most runner-up tokens of the level under the target verified beside its draft, 0 to 8 (default 0: off; on
   * the development VM they did not pay, see the CHANGELOG): where the target rejects a drafted token and its choice
   * is the drafter's second guess, the pass yields one token more; the online control decides how many are worth
   * their rows.
   */
  maxBranches?: number;
  /**
   * Let the MXFP4 level read the target's KV cache for verified positions and keep only its own drafts' (default);
   * false gives it a cache of its own (for measuring the difference).
   */
  shareKv?: boolean;
  /**
   * Drafting levels (mxfp4, draft) compute logits only for token ids below this, plus the end-of-generation tokens:
   * on a large vocabulary the head is a large share of a draft pass, and the rare high ids seldom appear in code.
   * 0: the whole vocabulary. Default 100000 (docs/draft-vocabulary.md). The target always uses the whole head, so
   * completions are unchanged; only speed is.
   */
  draftVocab?: number;
  /**
   * Weights of the "mxfp4" level: 'auto' (default) casts the target's projections (and head, unless
   * mxfp4KeepHead) to MXFP4 in memory at load time; a path loads an MXFP4 GGUF of the same network (e.g. written by
   * quantize()); 'off' refuses the level.
   */
  mxfp4?: 'auto' | 'off' | (string & {});
  /** With mxfp4 'auto': keep the output head in the target's type. */
  mxfp4KeepHead?: boolean;
  /**
   * Read the weights in place from a memory map of each file instead of copying them into memory on huge pages
   * (default false): less memory when several windows load the same model, slower decode (the copy measured
   * 1.2-1.5x faster BF16 decode here).
   */
  mapWeights?: boolean;
}

export type SpeculationLevel = 'target' | 'mxfp4' | 'draft' | 'ngram';

/** One speculation level's counters. The target has no proposals of its own. */
export interface LevelStats {
  name: string;
  rounds: number;
  proposed: number;
  accepted: number;
  acceptance: number;
  meanDraftLength: number;
  /** Runner-up tokens verified beside this level's drafts, and those kept (the level above's choice). */
  branches: number;
  branchesKept: number;
  /** Time spent in this level's own forward passes or lookups. */
  ms: number;
}

/** A completion: either `prompt`, or fill-in-the-middle with `prefix` and `suffix`. */
export interface CompletionRequest {
  prompt?: string;
  prefix?: string;
  suffix?: string;
  maxTokens: number;
  /**
   * Token healing: the prompt's last token (of the prefix) is backed off and the model chooses how its text goes on.
   * A prompt cut at a cursor (mid-word, after indentation) otherwise ends in a token the model rarely saw there.
   * `text` leaves out the re-typed text; the tokens that re-typed it count against maxTokens.
   */
  tokenHealing?: boolean;
  /** The text ends before the first stop string found. */
  stop?: string[];
  /** Stop generating after this many milliseconds (the text so far is returned). */
  timeBudgetMs?: number;
  /** Aborting rejects the request with an AbortError; a running request stops after its current forward pass. */
  signal?: AbortSignal;
}

export type StopReason = 'eog' | 'max_tokens' | 'stop' | 'cancelled' | 'time_budget' | 'context_full';

export interface CompletionStats {
  levels: LevelStats[];
  promptTokens: number;
  reusedTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  totalMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface CompletionResult {
  text: string;
  tokens: number[];
  promptTokens: number[];
  stopReason: StopReason;
  stats: CompletionStats;
}

export interface EngineStats {
  requests: number;
  cancelled: number;
  promptTokens: number;
  reusedTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  levels: LevelStats[];
  last: CompletionStats;
}

export interface EngineInfo {
  architecture: string;
  contextLength: number;
  threads: number;
  fim: boolean;
  kernelPath: string;
  levels: SpeculationLevel[];
  /** Milliseconds load() spent casting the target to MXFP4 in memory (0 when no such copy was built). */
  mxfp4BuildMs?: number;
}

interface NativeRequest {
  prompt?: string;
  prefix?: string;
  suffix?: string;
  fim: boolean;
  maxTokens: number;
  heal?: boolean;
  stop?: string[];
  timeBudgetMs?: number;
}

/** Teacher forcing: for every position, the model's top token for the next position and its logit margin. */
export interface Evaluation {
  top1: number[];
  margin: number[];
}

export type WeightType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'mxfp4';

export interface ConvertOptions {
  type: WeightType;
  /** Keep the output head in its original type. */
  keepHead?: boolean;
}

export interface ConvertReport {
  converted: number;
  /** "tensor: reason" for matrices left in their type. */
  kept: string[];
  bytesIn: number;
  bytesOut: number;
}

interface NativeEngine {
  complete(request: NativeRequest, id: number): Promise<CompletionResult>;
  evaluate(tokens: number[]): Promise<Evaluation>;
  cancel(id: number): void;
  stats(): EngineStats;
  info(): EngineInfo | null;
  close(): void;
}

/** The raw addon surface. Kept private: callers use the typed functions below. */
interface NativeAddon {
  abiVersion: number;
  inspect(path: string): Promise<ModelInspection>;
  loadEngine(options: EngineOptions): Promise<NativeEngine>;
  convert(
    src: string,
    dst: string,
    options: ConvertOptions,
    onProgress?: (fraction: number, tensor: string) => void,
  ): { promise: Promise<ConvertReport>; cancel(): void };
}

/** Where the addon was found, for logs and `specqd --version`. */
export interface AddonLocation {
  path: string;
  tried: string[];
}

let addon: NativeAddon | undefined;
let addonLocation: AddonLocation | undefined;

/**
 * The places the addon may be, in order: an explicit override, next to the bundle (dist/, also inside a VSIX), and
 * the cmake-js build folder of a source checkout (for tests that run compiled TypeScript from out/).
 */
export function addonCandidates(): string[] {
  const candidates: string[] = [];
  const override = process.env.SPECQD_ADDON;
  if (override) candidates.push(path.resolve(override));
  for (const up of ['.', '..', '../..']) {
    candidates.push(path.resolve(__dirname, up, 'specqd.node'));
    candidates.push(path.resolve(__dirname, up, 'dist', 'specqd.node'));
    candidates.push(path.resolve(__dirname, up, 'build', 'Release', 'specqd.node'));
  }
  return [...new Set(candidates)];
}

function loadAddon(): NativeAddon {
  if (addon) return addon;
  const tried: string[] = [];
  for (const candidate of addonCandidates()) {
    tried.push(candidate);
    if (!fs.existsSync(candidate)) continue;
    // A .node file is loaded by Node's own module loader; esbuild leaves a require of a variable alone.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(candidate) as NativeAddon;
    if (loaded.abiVersion !== 1) {
      throw new Error(`SpecQD native engine at ${candidate} has ABI ${String(loaded.abiVersion)}, expected 1; rebuild it`);
    }
    addon = loaded;
    addonLocation = { path: candidate, tried };
    return loaded;
  }
  throw new Error(`SpecQD native engine not found; run "npm run build". Looked in:\n  ${tried.join('\n  ')}`);
}

/** Which addon file is in use (loads it if needed). */
export function nativeAddonLocation(): AddonLocation {
  loadAddon();
  return addonLocation as AddonLocation;
}

/** Describes a GGUF model file. Rejects with the engine's message when the file is missing or not a valid GGUF. */
export async function inspect(modelPath: string): Promise<ModelInspection> {
  if (typeof modelPath !== 'string' || modelPath.length === 0) {
    throw new TypeError('inspect(path): path must be a non-empty string');
  }
  return loadAddon().inspect(path.resolve(modelPath));
}

/** Progress of convert() / quantize(): the fraction of input bytes done (0..1) and the tensor just written. */
export type ConvertProgress = (fraction: number, tensor: string) => void;

export interface ConvertRunOptions extends ConvertOptions {
  onProgress?: ConvertProgress;
  /** Aborting cancels the run: the promise rejects with an AbortError and no output file is left. */
  signal?: AbortSignal;
}

/**
 * Writes a copy of a model with its weight matrices cast to `options.type`, streaming tensor by tensor (memory bounded
 * by the largest tensor). Atomic: a temporary file `dst.tmp-XXXXXXXX` beside `dst`, fsynced, then renamed; a failed,
 * cancelled or killed run leaves no partial `dst` and never modifies `src` (a temporary file left by a killed run is
 * removed by the next run writing the same `dst`). Rejects with the engine's message on a bad source or an
 * unwritable destination.
 */
export async function convert(src: string, dst: string, options: ConvertRunOptions): Promise<ConvertReport> {
  if (typeof src !== 'string' || typeof dst !== 'string' || !src || !dst) {
    throw new TypeError('convert(src, dst): both paths must be non-empty strings');
  }
  if (path.resolve(src) === path.resolve(dst)) throw new Error('convert: the output must not overwrite the input');
  const { signal, onProgress, ...nativeOptions } = options;
  if (signal?.aborted) throw abortError('the conversion was cancelled');
  const run = loadAddon().convert(path.resolve(src), path.resolve(dst), nativeOptions, onProgress);
  const onAbort = (): void => run.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await run.promise;
  } catch (error) {
    if (signal?.aborted) throw abortError('the conversion was cancelled');
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

export interface QuantizeOptions {
  /** Keep the output head in its original type (default: cast it too; for a tied head, a separate MXFP4 copy). */
  keepHead?: boolean;
  onProgress?: ConvertProgress;
  signal?: AbortSignal;
}

/**
 * The direct cast to MXFP4 (`specqd quantize`): the seven projections of every layer, and the output head unless
 * `keepHead`, become MXFP4; embeddings and norms keep their type. general.file_type is set to 38 (llama.cpp's
 * MOSTLY_MXFP4_MOE, its only MXFP4 file type) and the source file name is recorded as specqd.converted_from.
 * Same streaming / atomic / cancellation rules as convert().
 */
export async function quantize(src: string, dst: string, options: QuantizeOptions = {}): Promise<ConvertReport> {
  return convert(src, dst, { ...options, type: 'mxfp4' });
}

function abortError(message = 'the completion was cancelled'): Error {
  const error = new Error(message);
  error.name = 'AbortError';
  return error;
}

function checkOptionalNumber(value: unknown, what: string, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${what} must be an integer in ${min}..${max}`);
  }
}

/**
 * A loaded model. Requests run one at a time in the order they were made (the engine keeps one KV cache and reuses
 * the longest common prompt prefix between consecutive requests); a request aborted while it waits never reaches
 * the engine.
 */
export class Engine {
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly native: NativeEngine) {}

  static async load(options: EngineOptions): Promise<Engine> {
    if (typeof options?.target !== 'string' || options.target.length === 0) {
      throw new TypeError('Engine.load: target must be the path of a GGUF model');
    }
    checkOptionalNumber(options.threads, 'Engine.load: threads', 0, 256);
    checkOptionalNumber(options.contextLength, 'Engine.load: contextLength', 0, 1 << 20);
    const native = await loadAddon().loadEngine({
      ...options,
      target: path.resolve(options.target),
      ...(options.draft ? { draft: path.resolve(options.draft) } : {}),
      ...(options.mxfp4 !== undefined && options.mxfp4 !== 'auto' && options.mxfp4 !== 'off'
        ? { mxfp4: path.resolve(options.mxfp4) }
        : {}),
    });
    return new Engine(native);
  }

  complete(request: CompletionRequest): Promise<CompletionResult> {
    if (this.closed) return Promise.reject(new Error('the engine is closed'));
    const fim = request.prefix !== undefined || request.suffix !== undefined;
    if (fim && request.prompt !== undefined) {
      return Promise.reject(new TypeError('complete: give either prompt, or prefix and suffix, not both'));
    }
    if (!fim && typeof request.prompt !== 'string') {
      return Promise.reject(new TypeError('complete: prompt (or prefix and suffix) must be a string'));
    }
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 0 || request.maxTokens > 1_000_000) {
      return Promise.reject(new TypeError('complete: maxTokens must be an integer in 0..1000000'));
    }
    const nativeRequest: NativeRequest = {
      fim,
      maxTokens: request.maxTokens,
      ...(fim ? { prefix: request.prefix ?? '', suffix: request.suffix ?? '' } : { prompt: request.prompt }),
      ...(request.tokenHealing ? { heal: true } : {}),
      ...(request.stop ? { stop: request.stop } : {}),
      ...(request.timeBudgetMs !== undefined ? { timeBudgetMs: request.timeBudgetMs } : {}),
    };
    const signal = request.signal;
    const run = async (): Promise<CompletionResult> => {
      if (signal?.aborted) throw abortError();
      if (this.closed) throw new Error('the engine is closed');
      const id = this.nextId++;
      const onAbort = (): void => this.native.cancel(id);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const result = await this.native.complete(nativeRequest, id);
        if (result.stopReason === 'cancelled') throw abortError();
        return result;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Teacher-forced predictions for every position of `tokens` (resets the prompt cache). */
  evaluate(tokens: number[]): Promise<Evaluation> {
    if (this.closed) return Promise.reject(new Error('the engine is closed'));
    const run = (): Promise<Evaluation> => this.native.evaluate(tokens);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Cumulative figures since load, and the last request's. */
  stats(): EngineStats {
    return this.native.stats();
  }

  info(): EngineInfo {
    const info = this.native.info();
    if (!info) throw new Error('the engine is closed');
    return info;
  }

  /** Cancels what is running and releases the model once it has stopped. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}
