// What the inline completion provider does for one request, without `vscode`: settings and language checks, the
// prompt, the cache (including typing through a shown suggestion), a debounce, one request in flight at a time (a
// new one aborts the previous one all the way down into the engine), the engine call with a time budget, and
// post-processing. The VS Code adapter only converts the document, the position and the CancellationToken.
import type { CompletionRequest, CompletionResult } from './engine';
import type { Logger } from './engine-manager';
import { CompletionCache } from './completion-cache';
import { isSingleLine, postprocess } from './postprocess';
import { buildPrompt, promptBudget, type CursorPosition, type DocumentLines } from './prompt';
import { isLanguageEnabled, type Settings } from './settings';

export interface CompletionDocument extends DocumentLines {
  readonly languageId: string;
}

/** The loaded engine as the service needs it. */
export interface CompletionSource {
  engine: { complete(request: CompletionRequest): Promise<CompletionResult> };
  /** Whether the model has FIM tokens; without them the prefix is completed as a plain prompt. */
  fim: boolean;
  contextLength: number;
}

export interface CompletionOutcome {
  /** What was shown (undefined: nothing). */
  text: string | undefined;
  fromCache: boolean;
  /** From the request to the answer, debounce included: the time to ghost text. */
  latencyMs: number;
  result?: CompletionResult;
}

export type CompletionActivity = { kind: 'started' } | { kind: 'finished'; outcome: CompletionOutcome } | { kind: 'cancelled' };

export interface CompletionServiceDeps {
  source(): CompletionSource | undefined;
  settings(): Settings;
  log: Logger;
  onActivity?(activity: CompletionActivity): void;
}

/** Most tokens for a completion that must stay on the cursor's line. */
const singleLineMaxTokens = 48;

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/** Resolves after `ms`, or false at once when `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class CompletionService {
  readonly cache = new CompletionCache();
  private inFlight: AbortController | undefined;
  private lastOutcome: CompletionOutcome | undefined;

  constructor(private readonly deps: CompletionServiceDeps) {}

  /** The last completion that reached the editor (or was found empty). */
  get last(): CompletionOutcome | undefined {
    return this.lastOutcome;
  }

  /** Aborts the request in flight, if any. */
  cancel(): void {
    this.inFlight?.abort();
  }

  async provide(
    doc: CompletionDocument,
    cursor: CursorPosition,
    signal?: AbortSignal,
    tabSize = 4,
  ): Promise<string | undefined> {
    const started = Date.now();
    const settings = this.deps.settings();
    if (!settings.enabled || !isLanguageEnabled(settings, doc.languageId)) return undefined;
    const source = this.deps.source();
    if (!source) return undefined;

    const budget = promptBudget(source.contextLength, settings.maxTokens, settings);
    const built = buildPrompt(doc, cursor, budget);
    const hit = this.cache.get(built.prefix, built.suffix);
    if (hit) {
      this.inFlight?.abort(); // whatever runs was for an older cursor
      this.finish({ text: hit.completion, fromCache: true, latencyMs: Date.now() - started });
      return hit.completion;
    }

    // One request at a time: this one replaces whatever is still running.
    this.inFlight?.abort();
    const controller = new AbortController();
    this.inFlight = controller;
    const onOuterAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (signal?.aborted) controller.abort();

    try {
      if (!(await delay(settings.debounceMs, controller.signal))) return undefined;
      this.deps.onActivity?.({ kind: 'started' });
      const singleLine = isSingleLine(built.lineSuffix);
      const request: CompletionRequest = {
        ...(source.fim ? { prefix: built.prefix, suffix: built.suffix } : { prompt: built.prefix }),
        maxTokens: singleLine ? Math.min(settings.maxTokens, singleLineMaxTokens) : settings.maxTokens,
        // The prompt ends at the cursor, usually inside a token (mid-word, after indentation): heal it.
        tokenHealing: true,
        ...(singleLine ? { stop: ['\n'] } : {}),
        timeBudgetMs: settings.timeBudgetMs,
        signal: controller.signal,
      };
      const result = await source.engine.complete(request);
      const truncated = result.stopReason === 'max_tokens' || result.stopReason === 'time_budget';
      const text = postprocess(result.text, { ...built, maxLines: settings.maxLines, tabSize, truncated });
      if (text !== undefined) this.cache.put(built.prefix, built.suffix, text);
      this.finish({ text, fromCache: false, latencyMs: Date.now() - started, result });
      return text;
    } catch (error) {
      if (isAbortError(error) || controller.signal.aborted) {
        this.deps.onActivity?.({ kind: 'cancelled' });
        return undefined;
      }
      this.deps.log.error(`completion failed: ${error instanceof Error ? error.message : String(error)}`);
      this.deps.onActivity?.({ kind: 'cancelled' });
      return undefined;
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
      if (this.inFlight === controller) this.inFlight = undefined;
    }
  }

  private finish(outcome: CompletionOutcome): void {
    this.lastOutcome = outcome;
    this.deps.onActivity?.({ kind: 'finished', outcome });
  }
}
