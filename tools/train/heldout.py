#!/usr/bin/python3
"""Copy a deterministic sample of held-out files (never trained on) to test/fixtures/heldout/, with licence notes,
and write the full held-out list.  The benchmark cuts its FIM tasks from these files."""
import argparse, hashlib, json, os, pickle, shutil

ap = argparse.ArgumentParser()
ap.add_argument('--work', required=True)
ap.add_argument('--out', required=True)
ap.add_argument('--max-kb', type=int, default=320)
a = ap.parse_args()
docs = pickle.load(open(os.path.join(a.work, 'corpus.pkl'), 'rb'))['val']
man = json.load(open(os.path.join(a.work, 'manifest.json')))
lic = {s['src']: s['licence'] for s in man['sources']}
if os.path.isdir(a.out):
    shutil.rmtree(a.out)
os.makedirs(os.path.join(a.out, 'files'))
with open(os.path.join(a.out, 'heldout-files.tsv'), 'w') as f:
    f.write('# every held-out file of the training corpus (split by file: %s)\n' % man['heldout_rule'])
    f.write('# path\tgroup\tlicence\tbytes\tsha1\n')
    for d in docs:
        src = d['src']
        f.write('%s\t%s\t%s\t%d\t%s\n' % (d['path'], d['group'], lic[src], len(d['text'].encode()), d['sha1']))
# sample: files of 1.5-12 KB, round-robin over groups, ordered by a hash, up to max-kb in total
cands = {}
for d in docs:
    n = len(d['text'].encode())
    if 1500 <= n <= 12000:
        cands.setdefault(d['group'], []).append(d)
for g in cands:
    cands[g].sort(key=lambda d: hashlib.sha1(d['path'].encode()).hexdigest())
order = ['python', 'ts', 'js', 'stdlib', 'sympy']
picked, total, i = [], 0, 0
while total < a.max_kb * 1000 and any(i < len(cands.get(g, [])) for g in order):
    for g in order:
        if i < len(cands.get(g, [])):
            d = cands[g][i]
            n = len(d['text'].encode())
            if total + n <= a.max_kb * 1000:
                picked.append(d)
                total += n
    i += 1
rows = []
for d in picked:
    src = d['src']
    rel = d['path'][len(src) + 1:]
    name = src.replace(':', '_').replace('@', '_').replace('/', '_') + '__' + rel.replace('/', '__')
    open(os.path.join(a.out, 'files', name), 'w').write(d['text'])
    rows.append(dict(file='files/' + name, source_path=d['path'], group=d['group'], licence=lic[src],
                     source=src, bytes=len(d['text'].encode()), sha1=d['sha1']))
json.dump(rows, open(os.path.join(a.out, 'index.json'), 'w'), indent=1)
with open(os.path.join(a.out, 'README.md'), 'w') as f:
    f.write('# Held-out code (never trained on)\n\n'
            'Files of the training corpus that the split by file (`%s`) kept out of every training run of '
            '`test/fixtures/models/`. `heldout-files.tsv` lists all %d held-out files; `files/` holds a '
            'deterministic sample of %d of them (%.0f KB) for FIM benchmark tasks; `index.json` gives each '
            'sample file\'s original path, licence and SHA-1. Made by `tools/train/heldout.py`.\n\n'
            '## Licences\n\nEach file keeps the licence of the package it comes from (all permissive); the '
            'copyright notices are those of the upstream projects:\n\n' % (man['heldout_rule'], len(docs), len(rows), total / 1000))
    srcs = sorted({r['source'] for r in rows})
    for s in srcs:
        f.write('- `%s`: %s (%d files)\n' % (s, lic[s], sum(r['source'] == s for r in rows)))
    f.write('\nPSF-2.0 = Python Software Foundation License 2.0 (CPython standard library). The npm packages '
            'and Debian packages are listed with versions in `tools/train/README.md` and the licence texts ship '
            'inside those packages.\n')
print('held-out sample: %d files, %.0f KB; list of %d files' % (len(rows), total / 1000, len(docs)))
