#!/usr/bin/python3
"""Evaluate the trained pair for the model card (all in fp32):
  * held-out loss, plain and FIM-middle, at ctx 256 and 512;
  * MXFP4 direct cast of tiny-coder (block linears) and tiny-coder-draft: greedy agreement with tiny-coder,
    teacher-forced on held-out FIM prompts (true middles) and on tiny-coder's own greedy FIM continuations
    (= the acceptance greedy speculative decoding sees), plus tokens per target call at k = 4 and 8;
  * FIM completions of held-out code at editor-like cursors (uniform, mid-word, after indentation, end of line,
    empty suffix) with a syntactic-plausibility measure and cursor-robustness counts.
Writes OUT/eval.json and OUT/samples.md.
"""
import argparse, ast, copy, hashlib, json, os, pickle, random, sys, time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import Tokenizer  # noqa: E402
from data import val_sets, is_word  # noqa: E402
from model import Model, forward_cached  # noqa: E402

GRID = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def mxfp4_cast(W):
    """ggml/OCP MXFP4 direct cast of W [out, in] (blocks of 32 along `in`), returned dequantized as float32.
    scale = 2^(floor(log2(amax)) - 2) (exponent taken exactly from frexp), elements rounded to the nearest of
    ±{0, .5, 1, 1.5, 2, 3, 4, 6} saturating at 6, ties toward zero (ggml's best_index_mxfp4 order)."""
    W = np.asarray(W, dtype=np.float32)
    o, i = W.shape
    assert i % 32 == 0
    B = W.reshape(o, i // 32, 32).astype(np.float64)
    amax = np.abs(B).max(-1, keepdims=True)
    _, ex = np.frexp(amax)                      # amax = m * 2^ex, m in [0.5, 1) -> floor(log2 amax) = ex - 1
    scale = np.where(amax > 0, np.ldexp(1.0, ex - 1 - 2), 1.0)
    x = np.abs(B) / scale
    d = np.abs(x[..., None] - GRID)             # argmin returns the first (smaller) value on ties
    q = GRID[d.argmin(-1)]
    return (np.sign(B) * q * scale).reshape(o, i).astype(np.float32)


def mxfp4_model(m, head=False):
    c = copy.deepcopy(m)
    with torch.no_grad():
        for b in c.blocks:
            for lin in (b.q, b.k, b.v, b.o, b.gate, b.up, b.down):
                lin.weight.copy_(torch.from_numpy(mxfp4_cast(lin.weight.numpy())))
        if head:
            c.emb.weight.copy_(torch.from_numpy(mxfp4_cast(c.emb.weight.numpy())))
    return c


def load(path):
    ck = torch.load(path, map_location='cpu')
    m = Model(**ck['cfg'])
    m.load_state_dict(ck['state'])
    m.eval()
    return m, ck


def loss_on(model, rows, bs=4):
    tot = cnt = 0.0
    with torch.no_grad():
        for i in range(0, len(rows), bs):
            ids = torch.tensor([r[0] for r in rows[i:i + bs]])
            m = torch.tensor([r[1] for r in rows[i:i + bs]], dtype=torch.float64)[:, 1:]
            lg = model(ids[:, :-1])
            l = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), ids[:, 1:].reshape(-1), reduction='none').double()
            tot += (l * m.reshape(-1)).sum().item()
            cnt += m.sum().item()
    return tot / cnt


def greedy(model, tok, prompt, max_new, mask_special=True):
    """Greedy decoding (full recompute; the models are tiny). Special tokens other than <|endoftext|> are masked
    when mask_special. Returns (new ids, first-step unmasked argmax)."""
    ids = list(prompt)
    out = []
    first_raw = None
    specials = [t for t in tok.special.values() if t != tok.eot]
    ids = ids[-model.cfg['ctx'] + max_new:]
    cache = None
    nxt = ids
    with torch.no_grad():
        for _ in range(max_new):
            lg, cache = forward_cached(model, torch.tensor([nxt]), cache)
            lg = lg[0, -1]
            if first_raw is None:
                first_raw = int(lg.argmax())
            if mask_special:
                lg[specials] = float('-inf')
            t = int(lg.argmax())
            out.append(t)
            nxt = [t]
            if t == tok.eot:
                break
    return out, first_raw


def fim_prompt(tok, pre, suf, pre_budget, suf_budget):
    P = tok.encode(pre)[-pre_budget:] if pre else []
    S = tok.encode(suf)[:suf_budget] if suf else []
    return [tok.fim_pre] + P + [tok.fim_suf] + S + [tok.fim_mid]


def cursor_tasks(docs, n_per_kind, seed):
    """Deterministic FIM tasks on whole held-out files: (kind, doc, a, b) with middle text[a:b]."""
    rng = random.Random(seed)
    kinds = ['uniform', 'mid_word', 'after_indent', 'end_of_line', 'empty_suffix']
    pool = [d for d in docs if len(d['text']) > 400]
    tasks = []
    for kind in kinds:
        got = 0
        while got < n_per_kind:
            d = rng.choice(pool)
            t = d['text']
            lines = []
            p = 0
            for ln in t.split('\n'):
                lines.append((p, p + len(ln)))
                p += len(ln) + 1
            li = rng.randrange(len(lines) // 8, max(len(lines) // 8 + 1, len(lines) - 2))
            ls, le = lines[li]
            body = t[ls:le]
            if len(body.strip()) < 6:
                continue
            ind = len(body) - len(body.lstrip())
            if kind == 'mid_word':
                c = [i for i in range(ls + ind + 1, le) if is_word(t[i - 1]) and is_word(t[i])]
                if not c:
                    continue
                a = rng.choice(c)
                b = le
            elif kind == 'after_indent':
                if ind == 0:
                    continue
                a, b = ls + ind, le
            elif kind == 'end_of_line':
                # cursor at the end of the previous line: the middle is the newline + this line
                a, b = lines[li - 1][1], le
            else:
                a, b = rng.randrange(ls + ind, le), le
            tasks.append((kind, d, a, b))
            got += 1
    return tasks


_PARSE = {}


def _parses(t):
    if t not in _PARSE:
        try:
            ast.parse(t)
            _PARSE[t] = True
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            _PARSE[t] = False
    return _PARSE[t]


def brackets(s):
    return tuple(s.count(o) - s.count(c) for o, c in ('()', '[]', '{}'))


def plausibility(kind, d, a, b, comp, stopped):
    t = d['text']
    pre, truth, suf = t[:a], t[a:b], t[b:]
    r = dict(stopped=stopped, exact=comp.rstrip() == truth.rstrip(),
             brackets_ok=brackets(comp) == brackets(truth))
    if d['path'].endswith('.py') and _parses(t):
        try:
            ast.parse(pre + comp + (suf if kind != 'empty_suffix' else '\n' + suf))
            r['parses'] = True
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            r['parses'] = False
    return r


def agreement(target, cand, seqs, starts, ks=(4, 8)):
    """Fraction of positions (from each start to the end) where argmax(cand) == argmax(target), and greedy
    speculative tokens per target call at draft length k (accepted run + 1 target token per call)."""
    agree = tot = 0
    per_seq = []
    with torch.no_grad():
        for s, st in zip(seqs, starts):
            x = torch.tensor([s[:-1]])
            at = target(x)[0].argmax(-1)[st - 1:]
            ac = cand(x)[0].argmax(-1)[st - 1:]
            eq = (at == ac).tolist()
            agree += sum(eq)
            tot += len(eq)
            per_seq.append(eq)
    res = dict(agree=agree / tot, positions=tot)
    for k in ks:
        calls = toks = 0
        for eq in per_seq:
            i = 0
            while i < len(eq):
                run = 0
                while run < k and i + run < len(eq) and eq[i + run]:
                    run += 1
                step = min(run + 1, len(eq) - i)
                toks += step
                calls += 1
                i += step
        res['tokens_per_call_k%d' % k] = toks / calls
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True)
    ap.add_argument('--target', required=True)
    ap.add_argument('--draft', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--heldout-dir')
    ap.add_argument('--n-agree', type=int, default=64)
    ap.add_argument('--n-per-kind', type=int, default=16)
    ap.add_argument('--n-loss', type=int, default=96)
    ap.add_argument('--max-new', type=int, default=40)
    ap.add_argument('--threads', type=int, default=1, help='1 is far faster when other processes share the cores')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    tok = Tokenizer.load(os.path.join(a.work, 'tokenizer.json'))
    val = pickle.load(open(os.path.join(a.work, 'corpus.pkl'), 'rb'))['val']
    T, tck = load(a.target)
    D, dck = load(a.draft)
    TQ = mxfp4_model(T)
    TQH = mxfp4_model(T, head=True)
    DQ = mxfp4_model(D)
    res = dict(models={}, losses={}, agreement={}, completions={},
               settings=dict(n_loss=a.n_loss, n_agree=a.n_agree, n_per_kind=a.n_per_kind, max_new=a.max_new))
    for name, ck, m in (('tiny-coder', tck, T), ('tiny-coder-draft', dck, D)):
        res['models'][name] = dict(cfg=ck['cfg'], params=sum(p.numel() for p in m.parameters()),
                                   tokens=ck['tokens'], minutes=round(ck['seconds'] / 60, 1), seed=ck['seed'],
                                   steps=ck['step'], curve=ck['log'], lr=ck.get('args', {}).get('lr'))
    # 1. losses
    for ctx in (256, 512):
        vp, vf = val_sets(val, tok, ctx, n_plain=a.n_loss, n_fim=a.n_loss)
        for name, m in (('tiny-coder', T), ('tiny-coder mxfp4', TQ), ('tiny-coder-draft', D)):
            res['losses']['%s ctx%d' % (name, ctx)] = dict(plain=round(loss_on(m, vp), 4),
                                                           fim_middle=round(loss_on(m, vf), 4))
        print('losses ctx', ctx, json.dumps({k: v for k, v in res['losses'].items() if k.endswith(str(ctx))}),
              flush=True)
    # 2. agreement on held-out FIM prompts
    rng = random.Random(7)
    _, vf = val_sets(val, tok, 256, n_plain=0, n_fim=a.n_agree, seed=99)
    tf_seqs, tf_starts = [], []
    for ids, mask in vf:
        n = sum(mask)
        s = ids[:ids.index(tok.fim_mid) + 1 + n]
        tf_seqs.append(s)
        tf_starts.append(ids.index(tok.fim_mid) + 1)
    g_seqs, g_starts = [], []
    for s, st in zip(tf_seqs, tf_starts):
        out, _ = greedy(T, tok, s[:st], 48, mask_special=False)
        g_seqs.append(s[:st] + out)
        g_starts.append(st)
    for name, m in (('mxfp4(tiny-coder) vs tiny-coder', TQ),
                    ('mxfp4(tiny-coder, also emb/head) vs tiny-coder', TQH),
                    ('tiny-coder-draft vs tiny-coder', D),
                    ('mxfp4(tiny-coder-draft) vs tiny-coder', DQ)):
        res['agreement'][name] = dict(teacher_forced_true_middle=agreement(T, m, tf_seqs, tf_starts),
                                      on_target_greedy=agreement(T, m, g_seqs, g_starts))
        print('agree', name, json.dumps(res['agreement'][name]), flush=True)
    res['agreement']['mxfp4(tiny-coder-draft) vs tiny-coder-draft'] = dict(
        teacher_forced_true_middle=agreement(D, DQ, tf_seqs, tf_starts))
    # target top-1 accuracy on the true middles
    res['agreement']['tiny-coder top-1 accuracy on true middles'] = _top1(T, tf_seqs, tf_starts)
    # 3. completions at editor-like cursors
    tasks = cursor_tasks(val, a.n_per_kind, seed=11)
    samples = []
    agg = {}
    for kind, d, ai, bi in tasks:
        t = d['text']
        suf = '' if kind == 'empty_suffix' else t[bi:]
        prompt = fim_prompt(tok, t[:ai], suf, 320, 128)
        out, first_raw = greedy(T, tok, prompt, a.max_new)
        stopped = out[-1] == tok.eot
        comp = tok.decode([x for x in out if x != tok.eot])
        r = plausibility(kind, d, ai, bi, comp, stopped)
        r['first_token_special_unmasked'] = first_raw in tok.special.values() and first_raw != tok.eot
        if kind == 'after_indent':
            r['reindents'] = comp[:1] in (' ', '\t') and t[ai:ai + 1] not in (' ', '\t')
        dout, _ = greedy(D, tok, prompt, a.max_new)
        dcomp = tok.decode([x for x in dout if x != tok.eot])
        rd = plausibility(kind, d, ai, bi, dcomp, dout[-1] == tok.eot)
        for who, rr in (('tiny-coder', r), ('tiny-coder-draft', rd)):
            g = agg.setdefault(who, {}).setdefault(kind, {})
            for k, v in rr.items():
                g.setdefault(k, []).append(bool(v))
        samples.append(dict(kind=kind, path=d['path'], prefix_tail=t[max(0, ai - 160):ai],
                            suffix_head=suf[:80], truth=t[ai:bi], target=comp, draft=dcomp, **r))
    summary = {}
    for who, kinds in agg.items():
        summary[who] = {}
        allk = {}
        for kind, g in kinds.items():
            summary[who][kind] = {k: round(sum(v) / len(v), 3) for k, v in g.items()}
            summary[who][kind]['n'] = len(g['stopped'])
            for k, v in g.items():
                allk.setdefault(k, []).extend(v)
        summary[who]['all'] = {k: round(sum(v) / len(v), 3) for k, v in allk.items()}
        summary[who]['all']['n'] = len(allk['stopped'])
        summary[who]['python_parse_n'] = len(allk.get('parses', []))
    res['completions'] = summary
    res['eval_seconds'] = round(time.time() - t0, 1)
    json.dump(res, open(os.path.join(a.out, 'eval.json'), 'w'), indent=1)
    with open(os.path.join(a.out, 'samples.md'), 'w') as f:
        f.write('# Greedy FIM completions of held-out code (tools/train/evaluate.py)\n\n')
        for s in samples:
            f.write('## %s — `%s`\n\nprefix (tail):\n```\n%s\n```\nsuffix (head):\n```\n%s\n```\n'
                    'truth: `%r`\n\ntiny-coder: `%r`\n\ntiny-coder-draft: `%r`\n\n%s\n\n' % (
                        s['kind'], s['path'], s['prefix_tail'], s['suffix_head'], s['truth'], s['target'],
                        s['draft'], {k: s[k] for k in ('stopped', 'exact', 'brackets_ok', 'parses', 'reindents',
                                                       'first_token_special_unmasked') if k in s}))
    json.dump(samples, open(os.path.join(a.out, 'samples.json'), 'w'), indent=1)
    print(json.dumps(summary, indent=1))
    print('eval done in %.0f s' % (time.time() - t0))


def _top1(m, seqs, starts):
    ok = tot = 0
    with torch.no_grad():
        for s, st in zip(seqs, starts):
            am = m(torch.tensor([s[:-1]]))[0].argmax(-1)[st - 1:]
            ok += (am == torch.tensor(s[st:])).sum().item()
            tot += len(s) - st
    return dict(accuracy=ok / tot, positions=tot)


if __name__ == '__main__':
    main()
