// A small LRU of shown completions keyed by the prompt's prefix and suffix. It also serves the user typing through
// a suggestion: when the prefix grew by text the cached completion starts with, the rest of it is the answer, with
// no engine call. Pure: unit-tested in plain Node.

export interface CacheHit {
  completion: string;
  /** Characters the user typed through since the completion was made (0 for an exact hit). */
  typed: number;
}

export class CompletionCache {
  private readonly entries = new Map<string, string>();

  /** `maxTyped`: how many typed characters a lookup walks back over to find the completion being typed through. */
  constructor(
    private readonly maxEntries = 250,
    private readonly maxTyped = 256,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  put(prefix: string, suffix: string, completion: string): void {
    const key = cacheKey(prefix, suffix);
    this.entries.delete(key);
    this.entries.set(key, completion);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** The completion for this prompt, or the rest of one the user is typing through. */
  get(prefix: string, suffix: string): CacheHit | undefined {
    const limit = Math.min(this.maxTyped, prefix.length);
    for (let typed = 0; typed <= limit; typed++) {
      const key = cacheKey(prefix.slice(0, prefix.length - typed), suffix);
      const completion = this.entries.get(key);
      if (completion === undefined) continue;
      const typedText = prefix.slice(prefix.length - typed);
      if (!completion.startsWith(typedText) || completion.length === typed) continue;
      // Refresh recency: the entry is in use.
      this.entries.delete(key);
      this.entries.set(key, completion);
      return { completion: completion.slice(typed), typed };
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * The key holds the prefix's last characters only: the prompt builder drops whole lines from the top when the
 * prefix outgrows its budget, and typing through a suggestion must still find the entry after that.
 */
const keyPrefixChars = 4096;

function cacheKey(prefix: string, suffix: string): string {
  return `${prefix.slice(-keyPrefixChars)}\u0000${suffix}`;
}
