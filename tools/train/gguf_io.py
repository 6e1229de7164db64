"""Minimal GGUF v3 writer and reader (little-endian, general.alignment 32), following ggml's docs/gguf.md and the
stricter rules of ggml's reader: tensor data dense in directory order, each tensor padded to the alignment, data
section starting at the aligned end of the tensor infos; no nested arrays; unique keys and names."""
import struct

import numpy as np

ALIGN = 32
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30
_SCALAR = {T_U8: '<B', T_I8: '<b', T_U16: '<H', T_I16: '<h', T_U32: '<I', T_I32: '<i', T_F32: '<f',
           T_BOOL: '<?', T_U64: '<Q', T_I64: '<q', T_F64: '<d'}


def _pad(n, a=ALIGN):
    return n + (a - n % a) % a


def _str(s):
    b = s.encode('utf-8')
    return struct.pack('<Q', len(b)) + b


def to_bf16(a):
    """fp32 -> bf16 bits, round to nearest even (ggml_compute_fp32_to_bf16; the weights hold no NaN)."""
    u = np.ascontiguousarray(a, dtype='<f4').view('<u4').astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype('<u2')


def from_bf16(b):
    return (np.asarray(b, dtype='<u2').astype('<u4') << 16).view('<f4')


class Writer:
    def __init__(self):
        self.kv = []        # (key, type, value, elem_type)
        self.tensors = []   # (name, np.ndarray (C-contiguous), ggml_type)

    def add(self, key, typ, value, elem=None):
        assert key not in [k for k, *_ in self.kv], key
        self.kv.append((key, typ, value, elem))

    def add_tensor(self, name, arr, ggml_type=GGML_F32):
        assert len(name) < 64 and name not in [n for n, *_ in self.tensors]
        if ggml_type == GGML_F32:
            arr = np.ascontiguousarray(arr, dtype='<f4')
        elif ggml_type == GGML_BF16:
            arr = to_bf16(arr)
        else:
            raise ValueError('only F32 and BF16 tensors are written by this tool')
        self.tensors.append((name, arr, ggml_type))

    def _val(self, typ, v, elem):
        if typ == T_STR:
            return _str(v)
        if typ == T_ARR:
            out = [struct.pack('<IQ', elem, len(v))]
            if elem == T_STR:
                out += [_str(x) for x in v]
            else:
                out.append(np.asarray(v, dtype=np.dtype(_SCALAR[elem][1:]).newbyteorder('<')).tobytes())
            return b''.join(out)
        return struct.pack(_SCALAR[typ], v)

    def write(self, path):
        head = [b'GGUF', struct.pack('<IQQ', 3, len(self.tensors), len(self.kv))]
        for k, t, v, e in self.kv:
            head += [_str(k), struct.pack('<I', t), self._val(t, v, e)]
        off = 0
        offsets = []
        for name, arr, gt in self.tensors:
            ne = list(reversed(arr.shape))          # ne[0] = innermost (contiguous) dimension
            head += [_str(name), struct.pack('<I', len(ne)), struct.pack('<%dQ' % len(ne), *ne),
                     struct.pack('<IQ', gt, off)]
            offsets.append(off)
            off = _pad(off + arr.nbytes)
        h = b''.join(head)
        with open(path, 'wb') as f:
            f.write(h)
            f.write(b'\0' * (_pad(len(h)) - len(h)))
            pos = 0
            for (name, arr, gt), o in zip(self.tensors, offsets):
                assert pos == o
                b = arr.tobytes()
                f.write(b)
                f.write(b'\0' * (_pad(len(b)) - len(b)))
                pos = _pad(pos + len(b))


def read(path):
    """Returns (kv dict, tensors dict name -> float32 np.ndarray in torch order, i.e. shape reversed(ne));
    kv['__tensor_types__'] maps tensor names to ggml types."""
    buf = open(path, 'rb').read()
    p = 0

    def take(fmt):
        nonlocal p
        v = struct.unpack_from(fmt, buf, p)
        p += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def rstr():
        nonlocal p
        n = take('<Q')
        s = buf[p:p + n].decode('utf-8')
        p += n
        return s

    def rval(t):
        if t == T_STR:
            return rstr()
        if t == T_ARR:
            e, n = take('<I'), take('<Q')
            return [rval(e) for _ in range(n)]
        return take(_SCALAR[t])

    assert buf[:4] == b'GGUF'
    p = 4
    ver, nt, nkv = take('<I'), take('<Q'), take('<Q')
    assert ver == 3
    kv = {}
    for _ in range(nkv):
        k = rstr()
        kv[k] = rval(take('<I'))
    align = kv.get('general.alignment', ALIGN)
    infos = []
    for _ in range(nt):
        name = rstr()
        nd = take('<I')
        ne = [take('<Q') for _ in range(nd)]
        gt, off = take('<I'), take('<Q')
        infos.append((name, ne, gt, off))
    data = _pad(p, align)
    ts = {}
    types = {}
    run = 0
    for name, ne, gt, off in infos:
        assert off == run, (name, off, run)
        n = int(np.prod(ne))
        if gt == GGML_F32:
            ts[name] = np.frombuffer(buf, dtype='<f4', count=n, offset=data + off).reshape(list(reversed(ne)))
            run = _pad(run + 4 * n, align)
        elif gt == GGML_BF16:
            ts[name] = from_bf16(np.frombuffer(buf, dtype='<u2', count=n, offset=data + off)).reshape(list(reversed(ne)))
            run = _pad(run + 2 * n, align)
        else:
            raise ValueError('tensor type %d not supported by this reader' % gt)
        types[name] = gt
    assert data + run <= len(buf)
    kv['__tensor_types__'] = types
    return kv, ts
