#!/usr/bin/python3
"""Build the training corpus from permissively licensed code available offline.

Sources (every file is recorded with its source and licence in manifest.json):
  * the Python standard library of Debian's python3.11 (PSF licence);
  * an explicit allow-list of Debian python3 dist-packages with permissive licences;
  * JS/TS sources of the npm packages pinned in npm-corpus/package-lock.json, installed outside the
    repository with `npm ci --ignore-scripts` (every package's licence is read from its package.json
    and must be in NPM_LICENCES).

Held-out split is by file (hash of the source-relative path), never by line.

Usage: corpus.py --npm /tmp/corpus-npm/node_modules --out WORKDIR
Writes WORKDIR/corpus.pkl  ({'train': [doc], 'val': [doc]}, doc = dict(group, src, path, text))
       WORKDIR/manifest.json
"""
import argparse, hashlib, json, os, pickle, subprocess, sys

PY_STDLIB = '/usr/lib/python3.11'
DIST = '/usr/lib/python3/dist-packages'
# dist-packages allow-list: top-level module -> (Debian package, licence)
DIST_ALLOW = {
    'numpy': ('python3-numpy', 'BSD-3-Clause'),
    'torch': ('python3-torch', 'BSD-3-Clause'),
    'pygments': ('python3-pygments', 'BSD-2-Clause'),
    'pyparsing': ('python3-pyparsing', 'MIT'),
    'six.py': ('python3-six', 'MIT'),
    'toml': ('python3-toml', 'MIT'),
    'yaml': ('python3-yaml', 'MIT'),
    'jwt': ('python3-jwt', 'MIT'),
    'oauthlib': ('python3-oauthlib', 'BSD-3-Clause'),
    'cryptography': ('python3-cryptography', 'Apache-2.0 OR BSD-3-Clause'),
    'mpmath': ('python3-mpmath', 'BSD-3-Clause'),
    'sympy': ('python3-sympy', 'BSD-3-Clause'),
    'setuptools': ('python3-setuptools', 'MIT'),
    'pip': ('python3-pip', 'MIT'),
    'blinker': ('python3-blinker', 'MIT'),
    'distro': ('python3-distro', 'Apache-2.0'),
    'httplib2': ('python3-httplib2', 'MIT'),
    'argcomplete': ('python3-argcomplete', 'Apache-2.0'),
    'xmltodict.py': ('python3-xmltodict', 'MIT'),
    'wheel': ('python3-wheel', 'MIT'),
}
# excluded on purpose: apt, aptsources, softwareproperties (GPL), lazr, wadllib, gi (LGPL), dbus, chardet (LGPL),
# certifi / hypothesis (MPL-2.0); and every vendored folder (pip/_vendor carries LGPL chardet).
NPM_LICENCES = {'MIT', 'Apache-2.0', 'ISC', 'BSD-2-Clause', 'BSD-3-Clause', '0BSD'}
PY_EXT = ('.py',)
JS_EXT = ('.js', '.mjs', '.cjs')
TS_EXT = ('.ts', '.mts', '.cts', '.tsx')
SKIP_DIRS = {'_vendor', 'vendor', '__pycache__', 'site-packages', 'node_modules'}
HELDOUT_PERCENT = 3
MAX_BYTES = 200_000


def heldout(key):
    return int(hashlib.sha1(('specqd-heldout-v1:' + key).encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


def looks_generated(text):
    lines = text.split('\n')
    if not lines:
        return True
    if max(len(l) for l in lines) > 2000:
        return True
    if len(text) / len(lines) > 120:
        return True
    return False


def walk(root):
    for dp, dns, fns in os.walk(root):
        dns[:] = sorted(d for d in dns if d not in SKIP_DIRS and not d.startswith('.'))
        for fn in sorted(fns):
            yield os.path.join(dp, fn)


def deb_version(pkg):
    try:
        return subprocess.run(['dpkg-query', '-W', '-f=${Version}', pkg], capture_output=True, text=True).stdout.strip()
    except Exception:
        return ''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--npm', required=True, help='node_modules folder of npm ci in npm-corpus')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    seen = set()
    docs = {'train': [], 'val': []}
    sources = []
    stats = {}

    def add(group, src, path, rel):
        if os.path.getsize(path) > MAX_BYTES or os.path.getsize(path) == 0:
            return
        base = os.path.basename(path)
        if '.min.' in base or '.prod.' in base:
            return
        try:
            text = open(path, encoding='utf-8').read()
        except (UnicodeDecodeError, OSError):
            return
        text = text.replace('\r\n', '\n')
        if looks_generated(text) or len(text.strip()) < 64:
            return
        h = hashlib.sha1(text.encode()).hexdigest()
        if h in seen:
            return
        seen.add(h)
        split = 'val' if heldout(src + '/' + rel) else 'train'
        docs[split].append(dict(group=group, src=src, path=src + '/' + rel, text=text, sha1=h))
        s = stats.setdefault((group, src), {'train_files': 0, 'train_bytes': 0, 'val_files': 0, 'val_bytes': 0})
        s[split + '_files'] += 1
        s[split + '_bytes'] += len(text.encode())

    # 1. stdlib
    ver = deb_version('libpython3.11-stdlib')
    sources.append(dict(src='python3.11-stdlib', licence='PSF-2.0', version=ver, origin=PY_STDLIB))
    for p in walk(PY_STDLIB):
        rel = os.path.relpath(p, PY_STDLIB)
        if rel.split('/')[0] in ('site-packages', 'dist-packages', 'lib2to3', 'test', 'idlelib') or not p.endswith(PY_EXT):
            continue
        add('stdlib', 'python3.11-stdlib', p, rel)
    # 2. dist-packages allow-list
    for mod, (deb, lic) in sorted(DIST_ALLOW.items()):
        root = os.path.join(DIST, mod)
        if not os.path.exists(root):
            print('missing dist-package', mod, file=sys.stderr)
            continue
        group = 'sympy' if mod == 'sympy' else 'python'
        sources.append(dict(src='deb:' + deb, licence=lic, version=deb_version(deb), origin=root))
        files = [root] if os.path.isfile(root) else list(walk(root))
        for p in files:
            if p.endswith(PY_EXT):
                add(group, 'deb:' + deb, p, os.path.relpath(p, DIST))
    # 3. npm
    nm = a.npm
    pkgdirs = []
    for d in sorted(os.listdir(nm)):
        if d.startswith('.'):
            continue
        if d.startswith('@'):
            pkgdirs += [os.path.join(d, e) for e in sorted(os.listdir(os.path.join(nm, d)))]
        else:
            pkgdirs.append(d)
    for pd in pkgdirs:
        pj = json.load(open(os.path.join(nm, pd, 'package.json')))
        lic = pj.get('license')
        if isinstance(lic, dict):
            lic = lic.get('type')
        if lic not in NPM_LICENCES:
            print('skip npm package (licence %r)' % lic, pd, file=sys.stderr)
            continue
        src = 'npm:%s@%s' % (pj['name'], pj['version'])
        sources.append(dict(src=src, licence=lic, version=pj['version'], origin=pd))
        for p in walk(os.path.join(nm, pd)):
            rel = os.path.relpath(p, os.path.join(nm, pd))
            if p.endswith('.d.ts') or p.endswith('.d.mts') or p.endswith('.d.cts'):
                group = 'ts'
            elif p.endswith(TS_EXT):
                group = 'ts'
            elif p.endswith(JS_EXT):
                group = 'js'
            else:
                continue
            add(group, src, p, rel)

    for k in docs:
        docs[k].sort(key=lambda d: d['path'])
    pickle.dump(docs, open(os.path.join(a.out, 'corpus.pkl'), 'wb'))
    allsha = hashlib.sha256()
    for k in ('train', 'val'):
        for d in docs[k]:
            allsha.update((k + ' ' + d['path'] + ' ' + d['sha1'] + '\n').encode())
    man = dict(
        heldout_rule='sha1("specqd-heldout-v1:" + path) %% 100 < %d, by file' % HELDOUT_PERCENT,
        filters='ext .py/.js/.mjs/.cjs/.ts/.mts/.cts/.tsx; skip vendored dirs, *.min.*, *.prod.*, >200 KB, '
                'mean line >120 chars or any line >2000 chars; dedup by SHA-1 of content',
        corpus_sha256=allsha.hexdigest(),
        sources=sources,
        stats=[dict(group=g, src=s, **v) for (g, s), v in sorted(stats.items())],
        heldout_files=[dict(path=d['path'], group=d['group'], sha1=d['sha1'], bytes=len(d['text'].encode()))
                       for d in docs['val']],
    )
    json.dump(man, open(os.path.join(a.out, 'manifest.json'), 'w'), indent=1)
    for k in docs:
        print(k, len(docs[k]), 'files', sum(len(d['text'].encode()) for d in docs[k]) / 1e6, 'MB')
    by = {}
    for d in docs['train']:
        by[d['group']] = by.get(d['group'], 0) + len(d['text'].encode())
    print({g: round(b / 1e6, 1) for g, b in by.items()})


if __name__ == '__main__':
    main()
