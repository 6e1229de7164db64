"""Training / validation samples: plain code windows and fill-in-the-middle (PSM) samples.

FIM sample (PSM, Qwen2.5-Coder order):  <|fim_prefix|> pre <|fim_suffix|> suf <|fim_middle|> mid <|endoftext|>
Prefix, suffix and middle are cut at *character* positions and tokenized separately, as an editor prompt is.
Cursor positions are drawn so that the model sees the cursors an editor produces (issue 4, point 5):
uniform, right after the indentation of a line, in the middle of an identifier, at end of line, at column 0.
A share of FIM samples has an empty suffix and the whole rest of the window as middle: that is how plain
left-to-right completion is prompted (always FIM format). Elsewhere an empty middle teaches "nothing to insert
-> <|endoftext|> at once".
"""
import bisect
import random

GROUP_WEIGHTS = {'stdlib': 0.25, 'python': 0.25, 'sympy': 0.05, 'js': 0.25, 'ts': 0.20}
CHARS_PER_TOKEN = 2.6


def is_word(c):
    return c.isalnum() or c == '_'


class Sampler:
    def __init__(self, docs, tok, ctx, rng, fim_rate=0.5):
        self.tok, self.ctx, self.rng, self.fim_rate = tok, ctx, rng, fim_rate
        self.groups = {}
        for d in docs:
            self.groups.setdefault(d['group'], []).append(d['text'])
        self.gnames = sorted(g for g in self.groups if g in GROUP_WEIGHTS)
        self.gw = [GROUP_WEIGHTS[g] for g in self.gnames]
        self.cum = {}
        for g, ts in self.groups.items():
            c, s = [], 0
            for t in ts:
                s += len(t)
                c.append(s)
            self.cum[g] = c

    def doc(self):
        g = self.rng.choices(self.gnames, self.gw)[0]
        c = self.cum[g]
        i = bisect.bisect_right(c, self.rng.randrange(c[-1]))
        return self.groups[g][min(i, len(c) - 1)]

    def window(self, text, nchars):
        r = self.rng
        s = r.randrange(len(text))
        s = text.rfind('\n', 0, s) + 1 if r.random() < 0.5 else (text.find('\n', s) + 1 if '\n' in text[s:] else 0)
        if r.random() < 0.1:
            s = 0
        return text[s:s + nchars], s + nchars >= len(text)

    def plain(self, ctx=None):
        ctx = ctx or self.ctx
        text, at_end = self.window(self.doc(), int(CHARS_PER_TOKEN * ctx))
        ids = self.tok.encode(text)
        if at_end:
            ids.append(self.tok.eot)
        return ids

    def cursor(self, w):
        """A character position in w, drawn from editor-like cursor kinds."""
        r = self.rng
        n = len(w)
        kind = r.random()
        if kind < 0.30:
            return r.randrange(n + 1)
        # line starts
        starts = [0] + [i + 1 for i, c in enumerate(w) if c == '\n' and i + 1 < n]
        ls = r.choice(starts)
        le = w.find('\n', ls)
        le = n if le < 0 else le
        if kind < 0.55:   # right after the indentation
            p = ls
            while p < le and w[p] in ' \t':
                p += 1
            return p
        if kind < 0.80:   # in the middle of an identifier / number
            cands = [i for i in range(ls + 1, le) if is_word(w[i - 1]) and is_word(w[i])]
            if cands:
                return r.choice(cands)
            return r.randrange(ls, le + 1)
        if kind < 0.92:   # end of line
            return le
        return ls          # column 0

    def fim(self, ctx=None):
        ctx = ctx or self.ctx
        r, tok = self.rng, self.tok
        w, at_end = self.window(self.doc(), int(CHARS_PER_TOKEN * ctx))
        if len(w) < 8:
            return self.plain(ctx)
        a = self.cursor(w)
        budget = ctx + 1 - 3
        if r.random() < 0.15 and (at_end or w[a:].strip()):
            # Plain completion prompted in FIM form (empty suffix): the middle is everything after the cursor and
            # ends in <|endoftext|> only where the file ends. (A short middle + <|endoftext|> here taught the
            # model to stop at once at the end of a file, which is exactly where an editor asks it to go on.)
            P, M = tok.encode(w[:a]), tok.encode(w[a:])
            if at_end:
                M.append(tok.eot)
            ps = min(len(P), max(budget // 2, budget - len(M)))
            P = P[len(P) - ps:]
            return [tok.fim_pre] + P + [tok.fim_suf, tok.fim_mid] + M[:budget - ps]
        eol = w.find('\n', a)
        eol = len(w) if eol < 0 else eol
        k = r.random()
        if k < 0.03:
            b = a                                      # nothing to insert
        elif k < 0.30:
            b = eol                                    # rest of the line
        elif k < 0.62:                                 # rest of the line plus 1-4 lines
            b = eol
            for _ in range(r.randint(1, 4)):
                nx = w.find('\n', b + 1)
                b = len(w) if nx < 0 else nx
            if r.random() < 0.5 and b < len(w):
                b += 1
        else:                                          # random span
            b = min(len(w), a + int(r.expovariate(1 / 120)))
        P, S, M = tok.encode(w[:a]), tok.encode(w[b:]), tok.encode(w[a:b])
        if b < len(w) or at_end:                      # a middle that reaches a cut window's end goes on
            M.append(tok.eot)
        if len(M) > budget // 2:
            M = M[:budget // 2]
        room = budget - len(M)
        if len(P) + len(S) > room:
            ps = max(room // 2, room - len(S))
            ps = min(ps, len(P))
            P = P[len(P) - ps:]
            S = S[:room - ps]
        return [tok.fim_pre] + P + [tok.fim_suf] + S + [tok.fim_mid] + M

    def sample(self, ctx=None):
        return self.fim(ctx) if self.rng.random() < self.fim_rate else self.plain(ctx)

    def row(self, ctx=None):
        """ctx+1 tokens packed from samples; a sample that does not fit is truncated (plain) or replaced."""
        ctx = ctx or self.ctx
        out = []
        while len(out) < ctx + 1:
            s = self.sample(ctx)
            room = ctx + 1 - len(out)
            if len(s) <= room:
                out += s
            elif s[0] == self.tok.fim_pre and room >= 48 and self.rng.random() < 0.5:
                continue
            else:
                out += s[:room]
        return out


def val_sets(docs, tok, ctx, n_plain=96, n_fim=96, seed=1234):
    """Fixed held-out rows: plain rows (loss on every token) and FIM samples (loss on middle + <|endoftext|>).
    Returns lists of (ids, loss_mask) padded to ctx+1 with <|fim_pad|>."""
    s = Sampler(docs, tok, ctx, random.Random(seed))
    plain = []
    while len(plain) < n_plain:
        ids = []
        while len(ids) < ctx + 1:
            ids += s.plain()
        plain.append((ids[:ctx + 1], [1] * (ctx + 1)))
    fim = []
    while len(fim) < n_fim:
        ids = s.fim()
        if ids[0] != tok.fim_pre:
            continue
        m = ids.index(tok.fim_mid)
        mask = [0] * (m + 1) + [1] * (len(ids) - m - 1)   # target positions: tokens after <|fim_middle|>
        pad = ctx + 1 - len(ids)
        fim.append((ids + [tok.fim_pad] * pad, mask + [0] * pad))
    return plain, fim
