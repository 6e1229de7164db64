// Turns what the model generated into what the editor shows: one line when code sits right of the cursor, else
// lines up to a limit that stop where the code leaves the cursor's block, without text the document already has
// after the cursor. Pure: unit-tested with plain strings.

export interface PostprocessContext {
  /** The cursor's line up to the cursor. */
  linePrefix: string;
  /** The cursor's line after the cursor. */
  lineSuffix: string;
  /** The lines after the cursor's line (a few are enough). */
  nextLines: string[];
  /** Most lines a multi-line completion may have. */
  maxLines: number;
  /** Columns of a tab when comparing indentation. */
  tabSize?: number;
  /** The generation was cut by the token limit, so its last line is probably unfinished. */
  truncated?: boolean;
}

/** Whether the completion must stay on the cursor's line: anything but spaces sits right of the cursor. */
export function isSingleLine(lineSuffix: string): boolean {
  return lineSuffix.trim() !== '';
}

/** Indentation width in columns of a line's leading whitespace. */
export function indentWidth(line: string, tabSize = 4): number {
  let width = 0;
  for (const ch of line) {
    if (ch === ' ') width += 1;
    else if (ch === '\t') width += tabSize - (width % tabSize);
    else break;
  }
  return width;
}

/** Closing brackets in `text` that no earlier opening bracket in `text` matches. */
function unmatchedClosers(text: string): number {
  let depth = 0;
  let unmatched = 0;
  for (const ch of text) {
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') {
      if (depth > 0) depth--;
      else unmatched++;
    }
  }
  return unmatched;
}

/**
 * The model often re-types the start of what is already right of the cursor (an auto-closed bracket, `;`). Cut the
 * longest such overlap, but only as far as the closing brackets in it are unmatched in the line: in `f(x)` before
 * `)` the `)` belongs to `f(`.
 */
function dropRetypedSuffix(line: string, tail: string): string {
  for (let k = Math.min(tail.length, line.length); k > 0; k--) {
    const overlap = tail.slice(0, k);
    if (!line.endsWith(overlap)) continue;
    const closers = [...overlap].filter((ch) => ch === ')' || ch === ']' || ch === '}').length;
    if (closers <= unmatchedClosers(line)) return line.slice(0, line.length - k);
  }
  return line;
}

/** Shorter completions are not judged as repeats of the following lines (`1` before a line `1 + 2` is fine). */
const minRepeatChars = 4;

/**
 * A line where a model has fallen into a loop: a piece of at least 3 characters repeated 6 times or more in a row
 * (`(bool, (bool, (bool, …`, `.optional().optional()…`). Small models do this when unsure; no one wants it shown,
 * and 6 keeps real lists like `[0, 0, 0, 0]` out of it.
 */
const loopingLine = /(.{3,}?)\1{5,}/;

/**
 * Whether `line` starts a run of text the completion has already shown: the same line (with its indentation) as
 * the previous non-empty kept line. Short lines (`}`, `)`) repeat legitimately.
 */
function repeatsPrevious(kept: string[], line: string): boolean {
  if (line.trim().length < minRepeatChars) return false;
  for (let i = kept.length - 1; i >= 0; i--) {
    const previous = kept[i] ?? '';
    if (previous.trim() !== '') return previous === line;
  }
  return false;
}

const closesBlock = /^(?:[)\]}]|end\b|fi\b|done\b|esac\b)/;
const opensBlock = /(?:[{([:]|\bthen|\bdo)\s*$/;

/** The completion to show, or undefined when nothing useful is left. */
export function postprocess(raw: string, ctx: PostprocessContext): string | undefined {
  const tabSize = ctx.tabSize ?? 4;
  const text = raw.replace(/\r\n?/g, '\n');

  if (isSingleLine(ctx.lineSuffix)) {
    const line = dropRetypedSuffix((text.split('\n', 1)[0] ?? '').trimEnd(), ctx.lineSuffix.trim()).trimEnd();
    if (line.trim() === '' || ctx.lineSuffix.trimStart().startsWith(line.trim())) return undefined;
    return line;
  }

  const lines = text.split('\n');
  // The last line of a generation cut by the token limit is unfinished (mid-expression): show whole lines only.
  if (ctx.truncated && lines.length > 1) lines.pop();
  if (loopingLine.test(lines[0] ?? '')) return undefined;
  const first = lines[0] ?? '';
  // The cursor's block: its line's indentation; when that line (with the completion's first line) opens a block,
  // the new block is deeper and ends at a line back at that indentation.
  const cursorIndent = indentWidth(ctx.linePrefix, tabSize);
  const opening = opensBlock.test((ctx.linePrefix + first).trimEnd());
  const nextCode = ctx.nextLines.find((l) => l.trim() !== '')?.trim();

  const kept = [first];
  for (let i = 1; i < lines.length && kept.length < ctx.maxLines; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      kept.push(line);
      continue;
    }
    // What follows the cursor is already in the document: stop before repeating it.
    if (nextCode !== undefined && line.trim() === nextCode) break;
    // A model in a loop: stop before the loop.
    if (loopingLine.test(line) || repeatsPrevious(kept, line)) break;
    const indent = indentWidth(line, tabSize);
    if (opening) {
      if (indent > cursorIndent) {
        kept.push(line);
        continue;
      }
      if (indent === cursorIndent && closesBlock.test(line.trim())) kept.push(line);
      break;
    }
    if (indent < cursorIndent) break;
    kept.push(line);
  }

  while (kept.length > 1 && (kept[kept.length - 1] ?? '').trim() === '') kept.pop();
  const result = kept.join('\n').trimEnd();
  if (result.trim() === '') return undefined;
  // Drop a completion that only re-types the lines after the cursor.
  const following = ctx.nextLines.join('\n').trim();
  if (result.trim().length >= minRepeatChars && following.startsWith(result.trim())) return undefined;
  return result;
}
