"""qwen2-style decoder exactly as llama.cpp's `qwen2` architecture computes it.

RMSNorm (eps 1e-6, weight multiplies the normalized x), NeoX RoPE (rotate pairs (i, i + head_dim/2), freq base
10000), grouped-query attention, q/k/v biases and no output bias, SwiGLU FFN (down(silu(gate(x)) * up(x))),
final RMSNorm, tied embedding / LM head.  Linear weights are torch [out, in] row-major, which is exactly the byte
layout of a GGUF tensor with ne = [in, out], so export needs no permutation.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

RMS_EPS = 1e-6
ROPE_BASE = 10000.0


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + RMS_EPS)).to(x.dtype) * self.weight.to(x.dtype)


def rope_tables(T, hd, device=None):
    inv = ROPE_BASE ** (-torch.arange(0, hd // 2, dtype=torch.float64) * 2 / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float().to(device), torch.sin(ang).float().to(device)


def apply_rope(x, cos, sin):
    # x: [B, H, T, hd]; NeoX: pairs (i, i + hd/2)
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    c, s = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


class Block(nn.Module):
    def __init__(self, d, heads, kv, ffn):
        super().__init__()
        self.heads, self.kv, self.hd = heads, kv, d // heads
        self.attn_norm = RMSNorm(d)
        self.q = nn.Linear(d, heads * self.hd, bias=True)
        self.k = nn.Linear(d, kv * self.hd, bias=True)
        self.v = nn.Linear(d, kv * self.hd, bias=True)
        self.o = nn.Linear(heads * self.hd, d, bias=False)
        self.ffn_norm = RMSNorm(d)
        self.gate = nn.Linear(d, ffn, bias=False)
        self.up = nn.Linear(d, ffn, bias=False)
        self.down = nn.Linear(ffn, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(B, T, self.heads, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.heads // self.kv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)   # query head h uses kv head h // rep (llama.cpp GQA)
            v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd)) + mask.to(q.dtype)
        att = torch.softmax(att.float(), dim=-1).to(v.dtype)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(y)
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self, vocab, d, layers, heads, kv, ffn, ctx):
        super().__init__()
        self.cfg = dict(vocab=vocab, d=d, layers=layers, heads=heads, kv=kv, ffn=ffn, ctx=ctx)
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList([Block(d, heads, kv, ffn) for _ in range(layers)])
        self.norm = RMSNorm(d)
        self.hd = d // heads
        nn.init.normal_(self.emb.weight, std=0.02)
        for b in self.blocks:
            for lin in (b.q, b.k, b.v, b.gate, b.up):
                nn.init.normal_(lin.weight, std=0.02)
            for lin in (b.o, b.down):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * layers))
            for lin in (b.q, b.k, b.v):
                nn.init.zeros_(lin.bias)
        self._rope = {}

    def tables(self, T, device):
        if T not in self._rope:
            self._rope[T] = rope_tables(T, self.hd, device)
            self._rope[('mask', T)] = torch.full((T, T), float('-inf')).triu(1)
        return self._rope[T][0], self._rope[T][1], self._rope[('mask', T)]

    def forward(self, idx):
        B, T = idx.shape
        cos, sin, mask = self.tables(T, idx.device)
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        x = self.norm(x)
        return x @ self.emb.weight.t().to(x.dtype)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@torch.no_grad()
def forward_cached(model, idx, cache):
    """Incremental forward for decoding (eval only): idx [1, t] new tokens, cache = list of (k, v) per layer
    (each [1, kv, T, hd]) or None. Returns (logits [1, t, vocab], new cache)."""
    B, t = idx.shape
    p0 = 0 if cache is None else cache[0][0].shape[2]
    T = p0 + t
    cos, sin, mask = model.tables(T, idx.device)
    cos, sin, mask = cos[p0:T], sin[p0:T], mask[p0:T, :T]
    x = model.emb(idx)
    new = []
    for li, b in enumerate(model.blocks):
        h = b.attn_norm(x)
        q = b.q(h).view(B, t, b.heads, b.hd).transpose(1, 2)
        k = b.k(h).view(B, t, b.kv, b.hd).transpose(1, 2)
        v = b.v(h).view(B, t, b.kv, b.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k = torch.cat([cache[li][0], k], 2)
            v = torch.cat([cache[li][1], v], 2)
        new.append((k, v))
        rep = b.heads // b.kv
        kk = k.repeat_interleave(rep, dim=1) if rep > 1 else k
        vv = v.repeat_interleave(rep, dim=1) if rep > 1 else v
        att = torch.softmax((q @ kk.transpose(-1, -2)) * (1.0 / math.sqrt(b.hd)) + mask, dim=-1)
        x = x + b.o((att @ vv).transpose(1, 2).reshape(B, t, -1))
        h = b.ffn_norm(x)
        x = x + b.down(F.silu(b.gate(h)) * b.up(h))
    return model.norm(x) @ model.emb.weight.t(), new
