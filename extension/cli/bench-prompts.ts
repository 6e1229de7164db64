// Evaluation prompts for the benchmark: fill-in-the-middle tasks cut at seeded random points from source files the
// fixture models never saw (test/fixtures/heldout/files), or given in a folder. Pure apart from reading files.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface FimTask {
  name: string;
  prefix: string;
  suffix: string;
}

export interface PromptOptions {
  count: number;
  seed: number;
  /** Most characters of prefix / suffix kept around the cut (the fixture models have a 512-token context). */
  prefixChars: number;
  suffixChars: number;
}

/** mulberry32: a small seeded generator, so the same seed cuts the same tasks on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Cuts `count` tasks: a file chosen at random (files sorted by name, so the choice is reproducible), a cut at the
 * start of a random line past the first tenth of the file, the prefix ending at the cut and the suffix starting a
 * random 4–15 lines later (the removed lines are what a completion would fill in; long enough that a model does not
 * end its answer after a few tokens, so decode speed is measured over many tokens).
 */
export function cutFimTasks(files: { name: string; text: string }[], options: PromptOptions): FimTask[] {
  const usable = files.filter((f) => f.text.split('\n').length >= 12).sort((a, b) => a.name.localeCompare(b.name));
  if (usable.length === 0) throw new Error('no source file has enough lines to cut FIM tasks from');
  const random = seededRandom(options.seed);
  const tasks: FimTask[] = [];
  for (let i = 0; i < options.count; i++) {
    const file = usable[Math.floor(random() * usable.length)];
    const lines = file.text.split('\n');
    const cutLine = Math.floor(lines.length * 0.1) + Math.floor(random() * Math.floor(lines.length * 0.85));
    const gap = 4 + Math.floor(random() * 12);
    const prefix = lines.slice(0, cutLine).join('\n') + (cutLine > 0 ? '\n' : '');
    const suffix = lines.slice(Math.min(lines.length, cutLine + gap)).join('\n');
    tasks.push({
      name: `${file.name}:${cutLine + 1}`,
      prefix: prefix.slice(Math.max(0, prefix.length - options.prefixChars)),
      suffix: suffix.slice(0, options.suffixChars),
    });
  }
  return tasks;
}

/**
 * Tasks from a folder: pairs NAME.prefix + NAME.suffix are used as they are; otherwise every file is a source to
 * cut tasks from.
 */
export function loadFimTasks(dir: string, options: PromptOptions): FimTask[] {
  const names = fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile()).sort();
  const pairs = names.filter((n) => n.endsWith('.prefix') && names.includes(`${n.slice(0, -'.prefix'.length)}.suffix`));
  if (pairs.length > 0) {
    return pairs.slice(0, options.count).map((n) => {
      const base = n.slice(0, -'.prefix'.length);
      return {
        name: base,
        prefix: fs.readFileSync(path.join(dir, n), 'utf8'),
        suffix: fs.readFileSync(path.join(dir, `${base}.suffix`), 'utf8'),
      };
    });
  }
  const files = names
    .filter((n) => !n.endsWith('.md') && !n.endsWith('.json') && !n.endsWith('.tsv'))
    .map((n) => ({ name: n, text: fs.readFileSync(path.join(dir, n), 'utf8') }));
  return cutFimTasks(files, options);
}
