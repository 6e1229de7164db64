#!/usr/bin/python3
"""Train one model (target or draft) on the corpus, wall-clock scheduled, checkpointing as it goes.

  train.py --work W --d 256 --layers 6 --heads 4 --kv 2 --ffn 704 --minutes 65 --out W/tiny-coder.pt

The cosine LR schedule runs on the *wall-clock* fraction so a run ends on time whatever the machine load.
The last --long-frac of the time trains at --ctx2 (longer context, same tokens per batch).
The thread count (1 or 2) is re-chosen every few minutes by measuring both: a 2-thread OpenMP run stalls badly
when another process takes one of the two cores (see docs/reference/fixture-training.md, pitfall 5).
"""
import argparse, json, math, os, pickle, random, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import Tokenizer  # noqa: E402
from data import Sampler, val_sets  # noqa: E402
from model import Model, n_params  # noqa: E402


def evaluate(model, rows, bs=32, autocast=True):
    model.eval()
    tot, cnt = 0.0, 0
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        for i in range(0, len(rows), bs):
            ids = torch.tensor([r[0] for r in rows[i:i + bs]])
            m = torch.tensor([r[1] for r in rows[i:i + bs]], dtype=torch.float32)[:, 1:]
            lg = model(ids[:, :-1]).float()
            l = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), ids[:, 1:].reshape(-1), reduction='none')
            tot += (l * m.reshape(-1)).sum().item()
            cnt += m.sum().item()
    model.train()
    return tot / max(cnt, 1)


def adamw(model, lr):
    """AdamW with weight decay on the matrices only (not on norms and biases)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': nodecay, 'weight_decay': 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def learning_rate(peak, step, warmup, frac):
    """Linear warm-up over `warmup` steps, then cosine from peak to peak / 10 over the wall-clock fraction frac."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--name', default='model')
    ap.add_argument('--d', type=int, default=256)
    ap.add_argument('--layers', type=int, default=6)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--kv', type=int, default=2)
    ap.add_argument('--ffn', type=int, default=704)
    ap.add_argument('--ctx', type=int, default=256)
    ap.add_argument('--ctx2', type=int, default=512)
    ap.add_argument('--long-frac', type=float, default=0.3)
    ap.add_argument('--batch-tokens', type=int, default=6144)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--warmup', type=int, default=30)
    ap.add_argument('--minutes', type=float, default=60)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--eval-every', type=float, default=5.0, help='minutes')
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    tok = Tokenizer.load(os.path.join(a.work, 'tokenizer.json'))
    docs = pickle.load(open(os.path.join(a.work, 'corpus.pkl'), 'rb'))
    sampler = Sampler(docs['train'], tok, a.ctx, rng)
    vplain, vfim = val_sets(docs['val'], tok, a.ctx)
    model = Model(tok.n_vocab, a.d, a.layers, a.heads, a.kv, a.ffn, max(a.ctx, a.ctx2))
    print('%s: %d params (%d non-embedding), vocab %d' % (a.name, n_params(model),
          n_params(model) - model.emb.weight.numel(), tok.n_vocab), flush=True)
    opt = adamw(model, a.lr)
    log = []
    t0 = time.time()
    budget = a.minutes * 60
    step, tokens, ema = 0, 0, None
    next_eval = a.eval_every * 60
    next_ckpt = 300.0
    threads, probe_at, win = 2, 120.0, []
    rates = {}

    def save(final=False):
        st = {'cfg': model.cfg, 'state': model.state_dict(), 'tokens': tokens, 'step': step,
              'seconds': time.time() - t0, 'seed': a.seed, 'args': vars(a), 'log': log, 'final': final}
        torch.save(st, a.out + '.tmp')
        os.replace(a.out + '.tmp', a.out)

    while True:
        el = time.time() - t0
        frac = el / budget
        if frac >= 1.0:
            break
        long_stage = frac >= 1.0 - a.long_frac
        ctx = a.ctx2 if long_stage else a.ctx
        bs = max(1, a.batch_tokens // ctx)
        lr = learning_rate(a.lr, step, a.warmup, frac)
        for g in opt.param_groups:
            g['lr'] = lr
        ts = time.time()
        rows = torch.tensor([sampler.row(ctx) for _ in range(bs)])
        with torch.autocast('cpu', dtype=torch.bfloat16):
            lg = model(rows[:, :-1])
        loss = F.cross_entropy(lg.float().reshape(-1, lg.shape[-1]), rows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.time() - ts
        step += 1
        tokens += bs * ctx
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        win.append(bs * ctx / dt)
        # thread-count probe: measure the current setting, then the other for a while, keep the faster
        el = time.time() - t0
        if el >= probe_at and len(win) >= 15:
            rates[threads] = sorted(win)[len(win) // 2]
            if len(rates) < 2:
                threads = 1 if threads == 2 else 2
            else:
                best = max(rates, key=rates.get)
                print('threads probe: %s tok/s -> using %d' % ({k: int(v) for k, v in rates.items()}, best),
                      flush=True)
                threads = best
                rates = {}
                probe_at = el + 240.0
            torch.set_num_threads(threads)
            win = []
        if step % 25 == 0:
            print('%s step %d  %.1f min  tok %.2fM  loss %.3f (ema %.3f)  lr %.2e  ctx %d  %d tok/s  thr %d'
                  % (a.name, step, el / 60, tokens / 1e6, loss.item(), ema, lr, ctx, bs * ctx / dt, threads),
                  flush=True)
        if el >= next_eval:
            vp, vf = evaluate(model, vplain), evaluate(model, vfim)
            log.append(dict(minutes=round(el / 60, 2), tokens=tokens, train_ema=round(ema, 4),
                            val_plain=round(vp, 4), val_fim_middle=round(vf, 4)))
            print('EVAL', json.dumps(log[-1]), flush=True)
            next_eval += a.eval_every * 60
        if el >= next_ckpt:
            save()
            next_ckpt += 300.0
    vp, vf = evaluate(model, vplain), evaluate(model, vfim)
    el = time.time() - t0
    log.append(dict(minutes=round(el / 60, 2), tokens=tokens, train_ema=round(ema, 4),
                    val_plain=round(vp, 4), val_fim_middle=round(vf, 4)))
    print('FINAL', json.dumps(log[-1]), flush=True)
    save(final=True)


if __name__ == '__main__':
    main()
