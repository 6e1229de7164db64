#!/usr/bin/python3
"""Train the byte-level BPE on a deterministic sample of the training split; write WORK/tokenizer.json."""
import argparse, os, pickle, random, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import Tokenizer, train  # noqa: E402
from data import GROUP_WEIGHTS  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--work', required=True)
ap.add_argument('--vocab', type=int, default=4096)
ap.add_argument('--sample-mb', type=float, default=30)
ap.add_argument('--seed', type=int, default=1)
a = ap.parse_args()
docs = pickle.load(open(os.path.join(a.work, 'corpus.pkl'), 'rb'))
rng = random.Random(a.seed)
texts = []
for g, w in sorted(GROUP_WEIGHTS.items()):
    ds = [d['text'] for d in docs['train'] if d['group'] == g]
    rng.shuffle(ds)
    lim, n = a.sample_mb * 1e6 * w, 0
    for t in ds:
        if n >= lim:
            break
        texts.append(t)
        n += len(t)
t0 = time.time()
merges = train(texts, a.vocab)
tok = Tokenizer(merges)
tok.save(os.path.join(a.work, 'tokenizer.json'))
val = ''.join(d['text'] for d in docs['val'])
n = len(tok.encode(val))
print('tokenizer: %d merges, %d tokens, %.1f s, held-out %.3f bytes/token'
      % (len(merges), tok.n_vocab, time.time() - t0, len(val.encode()) / n))
