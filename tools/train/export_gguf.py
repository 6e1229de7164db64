#!/usr/bin/python3
"""Export a trained checkpoint to a GGUF v3 file, architecture `qwen2`, F32 weights, full gpt2 tokenizer."""
import argparse, os, sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io as G  # noqa: E402
from bpe import Tokenizer, SPECIALS  # noqa: E402
from model import RMS_EPS, ROPE_BASE  # noqa: E402


def export(ckpt_path, tok, name, out, dtype='f32'):
    ck = torch.load(ckpt_path, map_location='cpu')
    cfg, sd = ck['cfg'], ck['state']
    w = G.Writer()
    w.add('general.architecture', G.T_STR, 'qwen2')
    w.add('general.name', G.T_STR, name)
    w.add('general.alignment', G.T_U32, 32)
    w.add('general.file_type', G.T_U32, 0 if dtype == 'f32' else 32)   # LLAMA_FTYPE_ALL_F32 / MOSTLY_BF16
    w.add('general.license', G.T_STR, 'MIT')
    w.add('general.description', G.T_STR,
          'SpecQD test fixture: a tiny FIM code model trained by tools/train (see test/fixtures/models/README.md)')
    w.add('qwen2.context_length', G.T_U32, cfg['ctx'])
    w.add('qwen2.embedding_length', G.T_U32, cfg['d'])
    w.add('qwen2.block_count', G.T_U32, cfg['layers'])
    w.add('qwen2.feed_forward_length', G.T_U32, cfg['ffn'])
    w.add('qwen2.attention.head_count', G.T_U32, cfg['heads'])
    w.add('qwen2.attention.head_count_kv', G.T_U32, cfg['kv'])
    w.add('qwen2.attention.layer_norm_rms_epsilon', G.T_F32, RMS_EPS)
    w.add('qwen2.rope.freq_base', G.T_F32, ROPE_BASE)
    w.add('tokenizer.ggml.model', G.T_STR, 'gpt2')
    w.add('tokenizer.ggml.pre', G.T_STR, 'qwen2')
    w.add('tokenizer.ggml.tokens', G.T_ARR, tok.tokens, G.T_STR)
    w.add('tokenizer.ggml.token_type', G.T_ARR, [3 if t in SPECIALS else 1 for t in tok.tokens], G.T_I32)
    w.add('tokenizer.ggml.merges', G.T_ARR, [a + ' ' + b for a, b in tok.merges], G.T_STR)
    w.add('tokenizer.ggml.bos_token_id', G.T_U32, tok.eot)
    w.add('tokenizer.ggml.eos_token_id', G.T_U32, tok.eot)
    w.add('tokenizer.ggml.padding_token_id', G.T_U32, tok.eot)
    w.add('tokenizer.ggml.add_bos_token', G.T_BOOL, False)
    w.add('tokenizer.ggml.fim_pre_token_id', G.T_U32, tok.fim_pre)
    w.add('tokenizer.ggml.fim_suf_token_id', G.T_U32, tok.fim_suf)
    w.add('tokenizer.ggml.fim_mid_token_id', G.T_U32, tok.fim_mid)
    w.add('tokenizer.ggml.fim_pad_token_id', G.T_U32, tok.fim_pad)
    w.add('tokenizer.ggml.fim_sep_token_id', G.T_U32, tok.file_sep)

    def t(k):
        return sd[k].float().numpy()

    mat_type = G.GGML_F32 if dtype == 'f32' else G.GGML_BF16
    add_tensor = w.add_tensor

    class _W:   # 2-D weights in the chosen type; norms and biases stay F32
        pass
    w2 = _W()
    w2.add_tensor = lambda n, a: add_tensor(n, a, mat_type if a.ndim == 2 else G.GGML_F32)

    w2.add_tensor('token_embd.weight', t('emb.weight'))          # [vocab, d] -> ne [d, vocab]
    for i in range(cfg['layers']):
        p = 'blocks.%d.' % i
        b = 'blk.%d.' % i
        w2.add_tensor(b + 'attn_norm.weight', t(p + 'attn_norm.weight'))
        w2.add_tensor(b + 'attn_q.weight', t(p + 'q.weight'))
        w2.add_tensor(b + 'attn_q.bias', t(p + 'q.bias'))
        w2.add_tensor(b + 'attn_k.weight', t(p + 'k.weight'))
        w2.add_tensor(b + 'attn_k.bias', t(p + 'k.bias'))
        w2.add_tensor(b + 'attn_v.weight', t(p + 'v.weight'))
        w2.add_tensor(b + 'attn_v.bias', t(p + 'v.bias'))
        w2.add_tensor(b + 'attn_output.weight', t(p + 'o.weight'))
        w2.add_tensor(b + 'ffn_norm.weight', t(p + 'ffn_norm.weight'))
        w2.add_tensor(b + 'ffn_gate.weight', t(p + 'gate.weight'))
        w2.add_tensor(b + 'ffn_up.weight', t(p + 'up.weight'))
        w2.add_tensor(b + 'ffn_down.weight', t(p + 'down.weight'))
    w2.add_tensor('output_norm.weight', t('norm.weight'))
    w.write(out)
    print('wrote %s (%.2f MB, %d tensors)' % (out, os.path.getsize(out) / 1e6, len(w.tensors)))


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True)
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--name', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--dtype', choices=('f32', 'bf16'), default='f32', help='type of the 2-D weights')
    a = ap.parse_args()
    export(a.ckpt, Tokenizer.load(os.path.join(a.work, 'tokenizer.json')), a.name, a.out, a.dtype)
