#!/usr/bin/python3
"""Byte-level BPE (GPT-2 byte<->unicode alphabet) with llama.cpp's `qwen2` pre-tokenizer split.

Token ids: 0..255 are the 256 bytes (id b = byte b, text = GPT-2 unicode char of b), then one token per merge
in merge order, then the special tokens. Merges are exported as "A B" strings (GGUF tokenizer.ggml.merges).
Encoding = pre-tokenize with the qwen2 regex, then apply merges by rank inside each piece, exactly as
llama.cpp's BPE tokenizer does.
"""
import heapq, json, sys
from collections import Counter

import regex

QWEN2_PRE = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
             r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_RE = regex.compile(QWEN2_PRE)
SPECIALS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|fim_pad|>', '<|file_sep|>']


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


def pretokenize(text):
    return PRE_RE.findall(text)


def to_sym(piece):
    return ''.join(B2U[b] for b in piece.encode('utf-8'))


def train(texts, vocab_size, min_freq=2, log=print):
    """texts: iterable of str. Returns list of merges (a, b)."""
    wc = Counter()
    for t in texts:
        wc.update(pretokenize(t))
    words, freqs = [], []
    for w, f in sorted(wc.items()):
        if f < min_freq and len(w) > 1:
            continue
        words.append(list(to_sym(w)))
        freqs.append(f)
    log('bpe: %d unique pieces kept' % len(words))
    pc = Counter()
    where = {}
    for i, w in enumerate(words):
        f = freqs[i]
        for p in zip(w, w[1:]):
            pc[p] += f
            where.setdefault(p, set()).add(i)
    heap = [(-c, p) for p, c in pc.items()]
    heapq.heapify(heap)
    vocab = set(B2U.values())
    merges = []
    target = vocab_size - len(SPECIALS)
    while len(vocab) < target and heap:
        negc, p = heapq.heappop(heap)
        c = pc.get(p, 0)
        if c <= 0:
            continue
        if -negc != c:
            heapq.heappush(heap, (-c, p))
            continue
        a, b = p
        new = a + b
        merges.append(p)
        vocab.add(new)
        changed = Counter()
        for i in sorted(where.pop(p, ())):
            w = words[i]
            f = freqs[i]
            # remove old pairs
            for q in zip(w, w[1:]):
                changed[q] -= f
            j, out = 0, []
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for q in zip(out, out[1:]):
                changed[q] += f
                where.setdefault(q, set()).add(i)
        for q, d in changed.items():
            if d == 0:
                continue
            pc[q] += d
            if pc[q] > 0:
                heapq.heappush(heap, (-pc[q], q))
        pc.pop(p, None)
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        toks = [B2U[b] for b in range(256)]
        seen = set(toks)
        for a, b in self.merges:
            if a + b not in seen:
                seen.add(a + b)
                toks.append(a + b)
        self.tokens = toks + SPECIALS
        self.id = {t: i for i, t in enumerate(self.tokens)}
        self.special = {s: self.id[s] for s in SPECIALS}
        self.eot = self.special['<|endoftext|>']
        self.fim_pre = self.special['<|fim_prefix|>']
        self.fim_suf = self.special['<|fim_suffix|>']
        self.fim_mid = self.special['<|fim_middle|>']
        self.fim_pad = self.special['<|fim_pad|>']
        self.file_sep = self.special['<|file_sep|>']
        self.cache = {}

    @property
    def n_vocab(self):
        return len(self.tokens)

    def _bpe(self, sym):
        w = list(sym)
        ranks = self.ranks
        while len(w) > 1:
            best, bi = None, -1
            for i in range(len(w) - 1):
                r = ranks.get((w[i], w[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            a, b = w[bi], w[bi + 1]
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        return [self.id[t] for t in w]

    def encode(self, text):
        out = []
        cache = self.cache
        for piece in PRE_RE.findall(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._bpe(to_sym(piece))
                if len(cache) < 2_000_000:
                    cache[piece] = ids
            out.extend(ids)
        return out

    def decode_bytes(self, ids):
        bs = bytearray()
        for i in ids:
            t = self.tokens[i]
            if t in self.special:
                bs += t.encode()
            else:
                bs += bytes(U2B[c] for c in t)
        return bytes(bs)

    def decode(self, ids):
        return self.decode_bytes(ids).decode('utf-8', errors='replace')

    def save(self, path):
        json.dump({'pre': 'qwen2', 'pre_regex': QWEN2_PRE, 'merges': [a + ' ' + b for a, b in self.merges],
                   'specials': SPECIALS}, open(path, 'w'))

    @staticmethod
    def load(path):
        j = json.load(open(path))
        return Tokenizer([tuple(m.split(' ')) for m in j['merges']])
