#!/usr/bin/python3
"""The model card's section on the distilled draft, from RESULTS/distill.json (written by distill.py --report).

make_card.py includes it; run alone it prints the section:  card_distill.py RESULTS MODELS
"""
import hashlib, json, os, sys

NAME = 'tiny-coder-draft-distilled.gguf'


def section(results, models):
    path = os.path.join(results, 'distill.json')
    if not os.path.exists(path):
        return []
    r = json.load(open(path))
    b, a = r['agreement_before'], r['agreement_after']
    gguf = os.path.join(models, NAME)
    L = ['## The distilled draft: `%s`\n' % NAME,
         'The same network as `%s` (%d layers, d=%d, %d heads / %d KV heads, FFN %d), trained further for %.0f '
         'minutes (%d steps, %.1fM tokens, AdamW, peak learning rate %g, seed %d) by `tools/train/distill.py` to '
         'match **%s\'s next-token distributions** (forward KL at temperature 1 on every position of the same '
         'plain and FIM rows as training) instead of the corpus\'s next tokens. A speculative draft is paid only '
         'for predicting the target, so this is the draft the benchmark and the demo use; `tiny-coder-draft` stays '
         'the independently trained draft of the tests.\n'
         % (r['init'], r['cfg']['layers'], r['cfg']['d'], r['cfg']['heads'], r['cfg']['kv'], r['cfg']['ffn'],
            r['minutes'], r['steps'], r['tokens'] / 1e6, r['lr'], r['seed'], r['teacher'].replace('.gguf', '')),
         'Agreement with %s along its own greedy continuations (48 tokens) of %d held-out FIM prompts, fp32, '
         'teacher-forced (what greedy speculative decoding meets):\n' % (r['teacher'].replace('.gguf', ''), r['n_agree']),
         '| draft | agreement | tokens/call k=4 | tokens/call k=8 |\n|---|---|---|---|']
    for name, g in ((r['init'], b), (NAME, a)):
        L.append('| `%s` | **%.1f%%** (%d positions) | %.2f | %.2f |'
                 % (name, 100 * g['agree'], g['positions'], g['tokens_per_call_k4'], g['tokens_per_call_k8']))
    if os.path.exists(gguf):
        h = hashlib.sha256(open(gguf, 'rb').read()).hexdigest()
        L.append('\n`%s`: %.2f MB (%d bytes), sha256 `%s…`, F32 like the others; its golden file and checks are '
                 'below.\n' % (NAME, os.path.getsize(gguf) / 1e6, os.path.getsize(gguf), h[:16]))
    return L


if __name__ == '__main__':
    print('\n'.join(section(sys.argv[1], sys.argv[2])))
