#!/usr/bin/python3
"""The model card's sections on the distilled drafts, from RESULTS/distill.json and RESULTS/distill-deep.json
(written by distill.py --report).

make_card.py includes them; run alone it prints them:  card_distill.py RESULTS MODELS
"""
import hashlib, json, os, sys

NAME = 'tiny-coder-draft-distilled.gguf'
DEEP_NAME = 'tiny-coder-draft-deep.gguf'

# (report in RESULTS, GGUF in MODELS, the section's heading, why the model exists)
DRAFTS = (
    ('distill.json', NAME, 'The distilled draft',
     'A speculative draft is paid only for predicting the target, so it is trained on the target\'s distributions '
     'rather than the corpus; `tiny-coder-draft` stays the independently trained draft of the tests. The demo drafts '
     'with this one: beside the unpadded 5.5M-parameter target every block counts, and the deeper draft below made '
     'the demo\'s target <- draft 0.67-0.73x instead of 0.96-1.09x (`node bin/specqd demo --draft '
     'test/fixtures/models/tiny-coder-draft-deep.gguf` against `node bin/specqd demo`).'),
    ('distill-deep.json', DEEP_NAME, 'The deep distilled draft',
     'A draft\'s cost per token is mostly its vocabulary head once the vocabulary is a real one (151,936 rows on '
     'Qwen2.5-Coder; the benchmark pads the fixtures to that size), so blocks of this width are nearly free: six '
     'blocks read about 1.5 MB more per token in BF16 than two, against 26-39 MB for the head. This is the draft '
     'the benchmark uses.'),
)


def network(cfg):
    return '%d layers, d=%d, %d heads / %d KV heads, FFN %d' % (cfg['layers'], cfg['d'], cfg['heads'], cfg['kv'],
                                                                 cfg['ffn'])


def section_of(results, models, report, name, heading, why):
    path = os.path.join(results, report)
    if not os.path.exists(path):
        return []
    r = json.load(open(path))
    b, a = r['agreement_before'], r['agreement_after']
    teacher = r['teacher'].replace('.gguf', '')
    grown = r.get('init_layers') and r['init_layers'] != r['cfg']['layers']
    start = ('`%s` deepened to %d blocks (%s): its %d blocks keep their weights and order, and the new ones start '
             'with zero output projections, so the network starts out computing exactly what `%s` computes; then'
             % (r['init'], r['cfg']['layers'], network(r['cfg']), r['init_layers'], r['init'])) if grown else \
            ('The same network as `%s` (%s),' % (r['init'], network(r['cfg'])))
    L = ['## %s: `%s`\n' % (heading, name),
         '%s trained further for %.0f minutes (%d steps, %.1fM tokens, AdamW, peak learning rate %g, seed %d) by '
         '`tools/train/distill.py` to match **%s\'s next-token distributions** (forward KL at temperature 1 on every '
         'position of the same plain and FIM rows as training) instead of the corpus\'s next tokens. %s\n'
         % (start, r['minutes'], r['steps'], r['tokens'] / 1e6, r['lr'], r['seed'], teacher, why),
         'Agreement with %s along its own greedy continuations (48 tokens) of %d held-out FIM prompts, fp32, '
         'teacher-forced (what greedy speculative decoding meets):\n' % (teacher, r['n_agree']),
         '| draft | agreement | tokens/call k=4 | tokens/call k=8 |\n|---|---|---|---|']
    for label, g in ((r['init'], b), (name, a)):
        L.append('| `%s` | **%.1f%%** (%d positions) | %.2f | %.2f |'
                 % (label, 100 * g['agree'], g['positions'], g['tokens_per_call_k4'], g['tokens_per_call_k8']))
    gguf = os.path.join(models, name)
    if os.path.exists(gguf):
        h = hashlib.sha256(open(gguf, 'rb').read()).hexdigest()
        L.append('\n`%s`: %.2f MB (%d bytes), sha256 `%s…`, F32 like the others; its golden file and checks are '
                 'below.\n' % (name, os.path.getsize(gguf) / 1e6, os.path.getsize(gguf), h[:16]))
    return L


def section(results, models):
    return [line for d in DRAFTS for line in section_of(results, models, *d)]


if __name__ == '__main__':
    print('\n'.join(section(sys.argv[1], sys.argv[2])))
