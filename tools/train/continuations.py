#!/usr/bin/python3
"""The target's own greedy continuations of training FIM prompts: on-policy data for distill.py --onpolicy.

  continuations.py --work W --teacher tiny-coder.gguf --n 8192 --out W/continuations.npz

A draft is judged on one thing: predicting the target along the target's own greedy output (evaluate.agreement
measures exactly that). Distilling on corpus text teaches it the target's distributions where the text leads, which
is not where the target's output leads; these rows put the draft where it is judged. The prompts are FIM samples of
the training documents (data.Sampler: the same editor-like cursors), cut to one length so that a batch decodes
together: prefix trimmed from the left, suffix from the right, as an editor's prompt window does.

Output (npz): rows [n, prompt + max_new] int32 — the prompt (ending in <|fim_middle|>) then the continuation, padded
with <|fim_pad|> after <|endoftext|>; lengths [n] — continuation tokens, <|endoftext|> included.
"""
import argparse, os, pickle, random, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import Tokenizer  # noqa: E402
from data import Sampler  # noqa: E402
from distill import model_from_gguf  # noqa: E402
from model import forward_cached  # noqa: E402


def fim_prompt_of_length(sampler, tok, length):
    """A FIM prompt of exactly `length` tokens drawn like data.Sampler.fim's, or None when the window is too short."""
    while True:
        ids = sampler.fim(length * 2)
        if ids[0] != tok.fim_pre or tok.fim_mid not in ids:
            continue   # a plain sample: draw again
        s_at, m_at = ids.index(tok.fim_suf), ids.index(tok.fim_mid)
        P, S = ids[1:s_at], ids[s_at + 1:m_at]
        room = length - 3
        if len(P) + len(S) < room:
            return None
        ps = min(len(P), max(room // 2, room - len(S)))
        return [tok.fim_pre] + P[len(P) - ps:] + [tok.fim_suf] + S[:room - ps] + [tok.fim_mid]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True, help='folder with corpus.pkl')
    ap.add_argument('--teacher', required=True, help='target GGUF')
    ap.add_argument('--out', required=True)
    ap.add_argument('--n', type=int, default=8192, help='continuations to generate')
    ap.add_argument('--prompt', type=int, default=192, help='prompt length in tokens')
    ap.add_argument('--max-new', type=int, default=64)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--seed', type=int, default=5)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    torch.set_num_threads(2)
    teacher, kv = model_from_gguf(a.teacher)
    teacher.eval()
    tok = Tokenizer([tuple(m.split(' ', 1)) for m in kv['tokenizer.ggml.merges']])
    docs = pickle.load(open(os.path.join(a.work, 'corpus.pkl'), 'rb'))
    sampler = Sampler(docs['train'], tok, a.prompt, rng, fim_rate=1.0)
    # The engine never emits control tokens other than <|endoftext|> inside a completion (ModelLevel::suppress).
    suppressed = [t for t in tok.special.values() if t != tok.eot]
    rows, lengths = [], []
    t0 = time.time()
    while len(rows) < a.n:
        prompts = []
        while len(prompts) < min(a.batch, a.n - len(rows)):
            p = fim_prompt_of_length(sampler, tok, a.prompt)
            if p is not None:
                prompts.append(p)
        out = torch.full((len(prompts), a.max_new), tok.fim_pad, dtype=torch.long)
        done = torch.zeros(len(prompts), dtype=torch.bool)
        n_new = torch.zeros(len(prompts), dtype=torch.long)
        cache, nxt = None, torch.tensor(prompts)
        for step in range(a.max_new):
            logits, cache = forward_cached(teacher, nxt, cache)
            logits = logits[:, -1]
            logits[:, suppressed] = float('-inf')
            t = logits.argmax(-1)
            out[~done, step] = t[~done]
            n_new += (~done).long()
            done |= t == tok.eot
            if bool(done.all()):
                break
            nxt = t[:, None]
        for p, o, n in zip(prompts, out.tolist(), n_new.tolist()):
            rows.append(p + o)
            lengths.append(n)
        print('%d / %d continuations, %.0f tokens/s' % (len(rows), a.n, sum(lengths) / (time.time() - t0)), flush=True)
    tmp = a.out + '.tmp.npz'
    np.savez(tmp, rows=np.array(rows, dtype=np.int32), lengths=np.array(lengths, dtype=np.int32),
             prompt=np.int32(a.prompt))
    os.replace(tmp, a.out)


if __name__ == '__main__':
    main()
