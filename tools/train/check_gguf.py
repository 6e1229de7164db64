#!/usr/bin/python3
"""Prove a GGUF export is right: an independent float64 numpy forward pass over the GGUF file (llama.cpp qwen2
semantics: NeoX RoPE, GQA head h -> kv head h // (n_head / n_head_kv)) must reproduce the torch checkpoint's fp32
logits, and the tokenizer rebuilt from the GGUF's tokens/merges must encode held-out code exactly as training did.
Also writes a small golden-logits JSON next to the GGUF when --golden is given (for engine tests)."""
import argparse, json, os, pickle, sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io as G  # noqa: E402
from bpe import Tokenizer  # noqa: E402
from model import Model  # noqa: E402


def np_forward(kv, ts, ids):
    a = kv['general.architecture']
    L = kv[a + '.block_count']
    H = kv[a + '.attention.head_count']
    KV = kv[a + '.attention.head_count_kv']
    eps = kv[a + '.attention.layer_norm_rms_epsilon']
    base = kv[a + '.rope.freq_base']
    E = ts['token_embd.weight'].astype(np.float64)
    d = E.shape[1]
    hd = d // H
    T = len(ids)

    def norm(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    pos = np.arange(T)[:, None]
    theta = pos * base ** (-np.arange(0, hd // 2) * 2.0 / hd)[None, :]
    cos, sin = np.cos(theta), np.sin(theta)

    def rope(x):   # x [T, n, hd], NeoX: rotate (i, i + hd/2)
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        c, s = cos[:, None, :], sin[:, None, :]
        return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)

    x = E[ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(L):
        g = lambda n: ts['blk.%d.%s' % (i, n)].astype(np.float64)  # noqa: E731
        h = norm(x, g('attn_norm.weight'))
        q = (h @ g('attn_q.weight').T + g('attn_q.bias')).reshape(T, H, hd)
        k = (h @ g('attn_k.weight').T + g('attn_k.bias')).reshape(T, KV, hd)
        v = (h @ g('attn_v.weight').T + g('attn_v.bias')).reshape(T, KV, hd)
        q, k = rope(q), rope(k)
        out = np.zeros((T, H, hd))
        for hh in range(H):
            kh = hh // (H // KV)
            s = q[:, hh] @ k[:, kh].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            out[:, hh] = s @ v[:, kh]
        x = x + out.reshape(T, d) @ g('attn_output.weight').T
        h = norm(x, g('ffn_norm.weight'))
        gt = h @ g('ffn_gate.weight').T
        x = x + ((gt / (1 + np.exp(-gt))) * (h @ g('ffn_up.weight').T)) @ g('ffn_down.weight').T
    return norm(x, ts['output_norm.weight'].astype(np.float64)) @ E.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True)
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--gguf', required=True)
    ap.add_argument('--golden', help='write golden logits JSON here')
    a = ap.parse_args()
    kv, ts = G.read(a.gguf)
    tok = Tokenizer.load(os.path.join(a.work, 'tokenizer.json'))
    gtok = Tokenizer([tuple(m.split(' ', 1)) for m in kv['tokenizer.ggml.merges']])
    assert gtok.tokens == kv['tokenizer.ggml.tokens'] == tok.tokens, 'token list mismatch'
    docs = pickle.load(open(os.path.join(a.work, 'corpus.pkl'), 'rb'))['val']
    nt = 0
    for d in docs[::10]:
        e = tok.encode(d['text'])
        assert gtok.encode(d['text']) == e
        assert tok.decode(e) == d['text']
        nt += len(e)
    print('tokenizer from GGUF: identical encoding of %d held-out files (%d tokens), exact round trip'
          % (len(docs[::10]), nt))
    ck = torch.load(a.ckpt, map_location='cpu')
    m = Model(**ck['cfg'])
    m.load_state_dict(ck['state'])
    m.eval()
    if G.GGML_BF16 in kv['__tensor_types__'].values():
        # compare against the checkpoint with its 2-D weights rounded to bf16 (round to nearest even)
        with torch.no_grad():
            for p in m.parameters():
                if p.dim() == 2:
                    p.copy_(torch.from_numpy(G.from_bf16(G.to_bf16(p.numpy())).copy()))
        print('GGUF has BF16 weights: torch reference uses the same bf16-rounded weights')
    prompt = ('def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n'
              '    return fibonacci(n - 1) + fibonacci(n - 2)\n')
    ids = [tok.fim_pre] + tok.encode(prompt[:60]) + [tok.fim_suf] + tok.encode(prompt[90:]) + [tok.fim_mid]
    ids2 = tok.encode(docs[0]['text'])[:200]
    worst = 0.0
    gold = []
    for seq in (ids, ids2):
        with torch.no_grad():
            lt = m(torch.tensor([seq]))[0].double().numpy()
        ln = np_forward(kv, ts, seq)
        err = np.abs(lt - ln).max()
        worst = max(worst, err)
        same = (lt.argmax(-1) == ln.argmax(-1)).mean()
        print('seq of %d tokens: max |logit diff| torch fp32 vs numpy-over-GGUF fp64 = %.2e, argmax agreement %.3f'
              % (len(seq), err, same))
        gold.append(dict(tokens=seq, argmax=[int(v) for v in ln.argmax(-1)],
                         last_logits_top8=[[int(i), float(ln[-1, i])] for i in np.argsort(-ln[-1])[:8]]))
    assert worst < 1e-3, worst
    if a.golden:
        # tokenizer vectors (held-out text -> ids) and greedy continuations (torch fp32, which matched the
        # GGUF forward above) for llama.cpp / engine parity checks
        tokcases = []
        for d in docs[1:6]:
            txt = d['text'][:1200]
            tokcases.append(dict(path=d['path'], text=txt, ids=tok.encode(txt)))
        for txt in ("x = 12345\r\n\tcafé → naïve it's I'LL  \n\n   ünïcödé 日本語 😀 <|endoftext|> ",
                    "    if (a<=b && c!==d) { return `${a}`; }\n\n\n", "  ", "'s'S 1.5e-3 0x1F __init__(self)"):
            tokcases.append(dict(path='synthetic', text=txt, ids=tok.encode(txt)))
        greedy = []
        d3 = docs[3]['text']
        cut = d3.find('\n    ', len(d3) // 3) + 5
        ids3 = [tok.fim_pre] + tok.encode(d3[max(0, cut - 600):cut]) + [tok.fim_suf, tok.fim_mid]
        for seq in (ids, ids2[:64], ids3):
            s = list(seq)
            with torch.no_grad():
                for _ in range(24):
                    s.append(int(m(torch.tensor([s]))[0, -1].argmax()))
                    if s[-1] == tok.eot:
                        break
            greedy.append(dict(prompt=list(seq), greedy=s[len(seq):], ends_with_eos=s[-1] == tok.eot))
        json.dump(dict(model=os.path.basename(a.gguf), note='logits: float64 numpy forward over the F32 GGUF; '
                       'greedy: torch fp32, no token masked, up to 24 tokens or <|endoftext|>', cases=gold, tokenize=tokcases,
                       greedy=greedy), open(a.golden, 'w'))
    print('OK', a.gguf)


if __name__ == '__main__':
    main()
