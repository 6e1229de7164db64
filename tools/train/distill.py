#!/usr/bin/python3
"""Distil the draft model from the target: train it to match the target's next-token distributions.

  distill.py --work W --teacher tiny-coder.gguf --init tiny-coder-draft.gguf --minutes 20 --out W/distilled.pt

A draft trained on the corpus learns the data; a speculative draft is paid only for predicting the *target*, so it
is trained here on the target's own output distributions (forward KL, temperature 1, every position of the same
plain and FIM rows train.py uses), starting from the draft's current weights. Both models are read from GGUF files,
so this needs no training checkpoints; the output is a checkpoint in train.py's format for export_gguf.py.

Before and after, it reports the greedy agreement measured the way speculative decoding meets it: teacher-forced
along the target's own greedy continuations of held-out FIM prompts (evaluate.agreement).

--onpolicy FILE adds rows of the target's own greedy continuations of training FIM prompts (continuations.py): a
share (--onpolicy-frac) of every step's rows, their KL counted where a continuation token is predicted. That is
where a draft is judged; corpus rows alone train it where the text leads, not where the target's output does.
"""
import argparse, json, os, pickle, random, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io as G  # noqa: E402
from bpe import Tokenizer  # noqa: E402
from data import Sampler, val_sets  # noqa: E402
from evaluate import agreement, greedy  # noqa: E402
from model import Model  # noqa: E402
from train import adamw, learning_rate  # noqa: E402

# GGUF tensor name suffix -> Model state-dict name suffix (the inverse of export_gguf.py's mapping)
BLOCK_NAMES = {'attn_norm.weight': 'attn_norm.weight', 'attn_q.weight': 'q.weight', 'attn_q.bias': 'q.bias',
               'attn_k.weight': 'k.weight', 'attn_k.bias': 'k.bias', 'attn_v.weight': 'v.weight',
               'attn_v.bias': 'v.bias', 'attn_output.weight': 'o.weight', 'ffn_norm.weight': 'ffn_norm.weight',
               'ffn_gate.weight': 'gate.weight', 'ffn_up.weight': 'up.weight', 'ffn_down.weight': 'down.weight'}


def model_from_gguf(path):
    """A Model holding a qwen2 GGUF's weights (F32 or BF16 tensors, as export_gguf.py writes them)."""
    kv, ts = G.read(path)
    if kv.get('general.architecture') != 'qwen2':
        raise SystemExit('%s: architecture %r, expected qwen2' % (path, kv.get('general.architecture')))
    a = 'qwen2.'
    cfg = dict(vocab=len(kv['tokenizer.ggml.tokens']), d=kv[a + 'embedding_length'], layers=kv[a + 'block_count'],
               heads=kv[a + 'attention.head_count'], kv=kv[a + 'attention.head_count_kv'],
               ffn=kv[a + 'feed_forward_length'], ctx=kv[a + 'context_length'])
    sd = {'emb.weight': ts['token_embd.weight'], 'norm.weight': ts['output_norm.weight']}
    for i in range(cfg['layers']):
        for g, t in BLOCK_NAMES.items():
            sd['blocks.%d.%s' % (i, t)] = ts['blk.%d.%s' % (i, g)]
    m = Model(**cfg)
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    return m, kv


def deepened(model, layers):
    """`model` with blocks added up to `layers`, computing exactly what it computed: each new block's output
    projections (attention o, FFN down) start at zero, so it adds nothing to the residual stream until training
    moves them; the rest of it starts as a fresh block does. The old blocks keep their order, spread evenly among
    the new ones. A draft's cost per token is mostly its vocabulary head (151,936 rows on Qwen2.5-Coder), so depth
    is the cheap way to make it agree more with the target."""
    cfg = dict(model.cfg)
    old = cfg['layers']
    if layers == old:
        return model
    if layers < old:
        raise SystemExit('--layers %d: the draft already has %d blocks; blocks can be added, not removed'
                         % (layers, old))
    cfg['layers'] = layers
    deep = Model(**cfg)
    deep.emb.load_state_dict(model.emb.state_dict())
    deep.norm.load_state_dict(model.norm.state_dict())
    at = {i * layers // old: i for i in range(old)}
    for j, block in enumerate(deep.blocks):
        if j in at:
            block.load_state_dict(model.blocks[at[j]].state_dict())
        else:
            torch.nn.init.zeros_(block.o.weight)
            torch.nn.init.zeros_(block.down.weight)
    return deep


def kl_per_position(teacher, student, rows):
    """Forward KL(teacher || student) of the next-token distributions at every position of rows [B, T] -> [B, T]."""
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        tlogp = F.log_softmax(teacher(rows).float(), -1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        slg = student(rows)
    slogp = F.log_softmax(slg.float(), -1)
    return (tlogp.exp() * (tlogp - slogp)).sum(-1)


class OnPolicyRows:
    """Rows of continuations.py's file: a FIM prompt, then the target's greedy continuation of it. Only the positions
    that predict a continuation token (the <|fim_middle|> position onwards, through <|endoftext|>) count: that is
    where speculation judges the draft; the prompt is corpus text, which the corpus rows already cover."""

    def __init__(self, path, rng):
        import numpy as np
        d = np.load(path)
        self.rows = torch.from_numpy(d['rows'].astype('int64'))
        self.lengths = torch.from_numpy(d['lengths'].astype('int64'))
        self.prompt = int(d['prompt'])
        self.rng = rng
        self.path = path

    def batch(self, n):
        pick = torch.tensor([self.rng.randrange(len(self.rows)) for _ in range(n)])
        rows = self.rows[pick][:, :-1]
        pos = torch.arange(rows.shape[1])[None, :]
        first = self.prompt - 1   # the <|fim_middle|> position predicts the first continuation token
        judged = (pos >= first) & (pos < first + self.lengths[pick][:, None])
        return rows, judged


def greedy_agreement(teacher, student, tok, val, n, max_new=48):
    """Agreement along the teacher's greedy continuations of n held-out FIM prompts (what speculation meets)."""
    _, vf = val_sets(val, tok, 256, n_plain=0, n_fim=n, seed=99)
    seqs, starts = [], []
    for ids, _ in vf:
        st = ids.index(tok.fim_mid) + 1
        out, _ = greedy(teacher, tok, ids[:st], max_new, mask_special=False)
        seqs.append(ids[:st] + out)
        starts.append(st)
    student.eval()
    r = agreement(teacher, student, seqs, starts)
    student.train()
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True, help='folder with corpus.pkl (tokenizer.json is written from the GGUF)')
    ap.add_argument('--teacher', required=True, help='target GGUF')
    ap.add_argument('--init', required=True, help='draft GGUF to start from')
    ap.add_argument('--out', required=True)
    ap.add_argument('--ctx', type=int, default=256)
    ap.add_argument('--ctx2', type=int, default=512)
    ap.add_argument('--long-frac', type=float, default=0.3)
    ap.add_argument('--batch-tokens', type=int, default=6144)
    ap.add_argument('--lr', type=float, default=1.5e-3)
    ap.add_argument('--warmup', type=int, default=30)
    ap.add_argument('--minutes', type=float, default=20)
    ap.add_argument('--seed', type=int, default=3)
    ap.add_argument('--n-agree', type=int, default=48)
    ap.add_argument('--layers', type=int, default=0, help='deepen the draft to this many blocks first (0: keep)')
    ap.add_argument('--report', help='write the run\'s figures here as JSON (for the model card)')
    ap.add_argument('--onpolicy', help='the target\'s greedy continuations (continuations.py) to distil on as well')
    ap.add_argument('--onpolicy-frac', type=float, default=0.5, help='share of each step\'s rows taken from them')
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    teacher, tkv = model_from_gguf(a.teacher)
    student, skv = model_from_gguf(a.init)
    init_layers = student.cfg['layers']
    if a.layers:
        student = deepened(student, a.layers)
    if tkv['tokenizer.ggml.tokens'] != skv['tokenizer.ggml.tokens']:
        raise SystemExit('%s and %s do not share a tokenizer' % (a.teacher, a.init))
    tok = Tokenizer([tuple(m.split(' ', 1)) for m in tkv['tokenizer.ggml.merges']])
    if tok.tokens != tkv['tokenizer.ggml.tokens']:
        raise SystemExit('%s: the merges do not rebuild its token list' % a.teacher)
    tok.save(os.path.join(a.work, 'tokenizer.json'))   # for export_gguf.py
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    docs = pickle.load(open(os.path.join(a.work, 'corpus.pkl'), 'rb'))
    sampler = Sampler(docs['train'], tok, a.ctx, rng)
    onpolicy = OnPolicyRows(a.onpolicy, rng) if a.onpolicy else None

    before = greedy_agreement(teacher, student, tok, docs['val'], a.n_agree)
    print('agreement before', json.dumps(before), flush=True)
    opt = adamw(student, a.lr)
    t0, budget = time.time(), a.minutes * 60
    step, tokens, ema = 0, 0, None
    log = [dict(minutes=0, agreement=before)]
    while True:
        frac = (time.time() - t0) / budget
        if frac >= 1.0:
            break
        ctx = a.ctx2 if frac >= 1.0 - a.long_frac else a.ctx
        bs = max(1, a.batch_tokens // ctx)
        lr = learning_rate(a.lr, step, a.warmup, frac)
        for g in opt.param_groups:
            g['lr'] = lr
        ts = time.time()
        n_on = round(bs * a.onpolicy_frac) if onpolicy else 0
        rows = torch.tensor([sampler.row(ctx) for _ in range(max(1, bs - n_on))])[:, :-1]
        loss = kl_per_position(teacher, student, rows).mean()
        if n_on:
            on_rows, judged = onpolicy.batch(n_on)
            on_kl = kl_per_position(teacher, student, on_rows)
            loss = (1 - a.onpolicy_frac) * loss + a.onpolicy_frac * on_kl[judged].mean()
            rows = torch.cat([rows.flatten(), on_rows.flatten()])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += rows.numel()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 25 == 0:
            print('distill step %d  %.1f min  tok %.2fM  kl %.4f (ema %.4f)  lr %.2e  ctx %d  %d tok/s'
                  % (step, (time.time() - t0) / 60, tokens / 1e6, loss.item(), ema, lr, ctx,
                     rows.numel() / (time.time() - ts)), flush=True)
    after = greedy_agreement(teacher, student, tok, docs['val'], a.n_agree)
    print('agreement after', json.dumps(after), flush=True)
    log.append(dict(minutes=round((time.time() - t0) / 60, 2), tokens=tokens, kl_ema=round(ema, 4), agreement=after))
    st = {'cfg': student.cfg, 'state': student.state_dict(), 'tokens': tokens, 'step': step,
          'seconds': time.time() - t0, 'seed': a.seed, 'args': vars(a), 'log': log, 'final': True,
          'distilled_from': os.path.basename(a.teacher), 'init': os.path.basename(a.init),
          'init_layers': init_layers,
          'onpolicy': dict(file=os.path.basename(a.onpolicy), rows=len(onpolicy.rows), frac=a.onpolicy_frac)
          if onpolicy else None}
    torch.save(st, a.out + '.tmp')
    os.replace(a.out + '.tmp', a.out)
    if a.report:
        json.dump(report_of(st), open(a.report, 'w'), indent=1)


def report_of(ckpt):
    """The figures of a distillation run that the model card shows, from its checkpoint."""
    before, after = ckpt['log'][0]['agreement'], ckpt['log'][-1]['agreement']
    return dict(teacher=ckpt['distilled_from'], init=ckpt['init'], init_layers=ckpt.get('init_layers'), cfg=ckpt['cfg'], minutes=ckpt['log'][-1]['minutes'],
                tokens=ckpt['tokens'], steps=ckpt['step'], kl_ema=ckpt['log'][-1]['kl_ema'], seed=ckpt['seed'],
                lr=ckpt['args']['lr'], n_agree=ckpt['args']['n_agree'], agreement_before=before, agreement_after=after,
                onpolicy=ckpt.get('onpolicy'))


if __name__ == '__main__':
    main()
