// Owns the loaded engine across setting changes: loads it in the background, reloads it when the model options
// change, closes it on dispose, and turns every failure into one problem with a reason a button can fix. Nothing
// here imports `vscode`; the extension shows the state and the problems.
import * as fs from 'node:fs';

import { Engine, inspect, type EngineInfo, type EngineOptions, type ModelInspection } from './engine';
import { engineOptionsKey } from './settings';

export type ProblemReason = 'missing' | 'unsupported' | 'corrupt' | 'out-of-memory' | 'addon' | 'load-failed';

export interface EngineProblem {
  reason: ProblemReason;
  /** One sentence for the user. */
  message: string;
  /** The engine's own words, for the log. */
  detail: string;
}

export type EngineState =
  | { kind: 'no-model' }
  | { kind: 'loading'; target: string }
  | { kind: 'ready'; target: string }
  | { kind: 'error'; target: string; problem: EngineProblem };

export interface LoadedEngine {
  engine: Engine;
  info: EngineInfo;
  inspection: ModelInspection;
  options: EngineOptions;
  loadMs: number;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The two engine calls the manager makes; tests substitute them. */
export interface EngineLoader {
  inspect(path: string): Promise<ModelInspection>;
  load(options: EngineOptions): Promise<Engine>;
}

const realLoader: EngineLoader = { inspect, load: (options) => Engine.load(options) };

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function problem(reason: ProblemReason, message: string, detail: string): EngineProblem {
  return { reason, message, detail };
}

/** Carries a problem through the load's control flow. */
class ProblemError extends Error {
  constructor(readonly problem: EngineProblem) {
    super(problem.message);
  }
}

export class EngineManager {
  private current: LoadedEngine | undefined;
  private currentKey = '';
  private lastOptions: EngineOptions | undefined;
  private generation = 0;
  private pending: Promise<void> = Promise.resolve();
  private stateValue: EngineState = { kind: 'no-model' };
  private readonly listeners = new Set<(state: EngineState) => void>();
  private disposed = false;

  constructor(
    private readonly log: Logger,
    private readonly loader: EngineLoader = realLoader,
  ) {}

  get state(): EngineState {
    return this.stateValue;
  }

  /** The engine when it is ready. */
  get loaded(): LoadedEngine | undefined {
    return this.stateValue.kind === 'ready' ? this.current : undefined;
  }

  onDidChangeState(listener: (state: EngineState) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * Makes the engine match `options` (undefined: no model). Returns at once when nothing changed; otherwise the
   * returned promise settles when the new load has finished or failed (it never rejects).
   */
  configure(options: EngineOptions | undefined): Promise<void> {
    const key = engineOptionsKey(options);
    if (key === this.currentKey && this.stateValue.kind !== 'error') return this.pending;
    return this.start(options, key);
  }

  /** Closes the engine and loads it again with the same options. */
  restart(): Promise<void> {
    return this.start(this.lastOptions, this.currentKey);
  }

  /** Waits for the load in progress, if any. */
  whenSettled(): Promise<void> {
    return this.pending;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.generation++;
    this.closeCurrent();
    this.listeners.clear();
  }

  private start(options: EngineOptions | undefined, key: string): Promise<void> {
    if (this.disposed) return Promise.resolve();
    const generation = ++this.generation;
    this.currentKey = key;
    this.lastOptions = options;
    this.closeCurrent();
    if (options === undefined) {
      this.setState({ kind: 'no-model' });
      this.pending = Promise.resolve();
      return this.pending;
    }
    this.setState({ kind: 'loading', target: options.target });
    this.pending = this.load(options, generation);
    return this.pending;
  }

  private async load(options: EngineOptions, generation: number): Promise<void> {
    const started = Date.now();
    const target = options.target;
    const stale = (): boolean => generation !== this.generation;
    this.log.info(`loading ${target}`);
    try {
      if (!fs.existsSync(target)) {
        throw new ProblemError(problem('missing', `Model file not found: ${target}`, `no file at ${target}`));
      }
      let inspection: ModelInspection;
      try {
        inspection = await this.loader.inspect(target);
      } catch (error) {
        const detail = messageOf(error);
        if (/native engine/i.test(detail)) throw new ProblemError(problem('addon', 'The SpecQD native engine could not be loaded.', detail));
        throw new ProblemError(problem('corrupt', `The model file is not a valid GGUF model: ${target}`, detail));
      }
      if (!inspection.supported) {
        const why = inspection.unsupportedReason ?? `architecture ${inspection.architecture}`;
        throw new ProblemError(problem('unsupported', `This model is not supported by SpecQD (${why}).`, why));
      }
      if (stale()) return;
      let engine: Engine;
      try {
        engine = await this.loadWithAvailableLevels(options);
      } catch (error) {
        const detail = messageOf(error);
        if (/memory|alloc/i.test(detail)) {
          throw new ProblemError(problem('out-of-memory', 'Not enough memory to load the model; choose a smaller one.', detail));
        }
        throw new ProblemError(problem('load-failed', `The model could not be loaded: ${detail}`, detail));
      }
      if (stale()) {
        engine.close();
        return;
      }
      const info = engine.info();
      this.current = { engine, info, inspection, options, loadMs: Date.now() - started };
      this.log.info(
        `ready in ${Date.now() - started} ms: ${info.architecture}, context ${info.contextLength}, ` +
          `${info.threads} threads, FIM ${info.fim ? 'yes' : 'no'}, kernels ${info.kernelPath}, levels ${info.levels.join(' > ')}`,
      );
      this.setState({ kind: 'ready', target });
    } catch (error) {
      if (stale()) return;
      const p: EngineProblem = error instanceof ProblemError
        ? error.problem
        : problem('load-failed', `The model could not be loaded: ${messageOf(error)}`, messageOf(error));
      this.log.error(`${p.message} (${p.detail})`);
      this.setState({ kind: 'error', target, problem: p });
    }
  }

  /**
   * Loads with the configured levels; when this build's engine lacks the MXFP4 level, loads without it (and says
   * so in the log), so the default settings keep working until the MXFP4 drafts land.
   */
  private async loadWithAvailableLevels(options: EngineOptions): Promise<Engine> {
    try {
      return await this.loader.load(options);
    } catch (error) {
      if (!options.levels?.includes('mxfp4') || !/"mxfp4" level is not available/.test(messageOf(error))) throw error;
      const levels = options.levels.filter((level) => level !== 'mxfp4');
      this.log.warn(`${messageOf(error)}; loading with levels ${levels.join(', ')}`);
      return this.loader.load({ ...options, levels });
    }
  }

  private closeCurrent(): void {
    const current = this.current;
    this.current = undefined;
    if (current) {
      current.engine.close();
      this.log.info(`closed ${current.options.target}`);
    }
  }

  private setState(state: EngineState): void {
    this.stateValue = state;
    for (const listener of [...this.listeners]) listener(state);
  }
}
