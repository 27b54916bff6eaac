"""Reading a Jittor `.pkl` checkpoint (DeepFaceDrawing's `Params/`) without Jittor, running nothing of it.

Jittor's `Module.save` pickles (protocol 4) a dict of parameter name -> `jittor_core.Var`, each Var reduced to
`Var(ndarray)`; Jittor 1.3.x then appends a trailer: the 20-byte SHA-1 of the pickle and the magic `HCAJSLHD`.
Here the checksum is verified when the trailer is there, and the unpickler knows exactly four globals: the Var
(which becomes its array) and the three numpy names an array pickles through. Any other global is refused
before it is called, so a pickle that would run code is never run.
"""
import hashlib
import io
import pickle

import numpy as np
from numpy.core.multiarray import _reconstruct

from .checkpoints import ConversionError
from .fastai_export import RefusedPickle

MAGIC = b'HCAJSLHD'
TRAILER = hashlib.sha1().digest_size + len(MAGIC)

ALLOWED = {
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _reconstruct,  # written by numpy 2
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}
JITTOR_VAR = ('jittor', 'jittor_core.Var')


def _var(array):
    """jittor_core.Var(array), as the checkpoint's tensors are rebuilt: the array itself."""
    return array


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream, path):
        super().__init__(stream)
        self.path = path

    def find_class(self, module, name):
        if (module, name) == JITTOR_VAR:
            return _var
        if (module, name) in ALLOWED:
            return ALLOWED[module, name]
        raise RefusedPickle(f'{self.path}: refused to load, the pickle names {module}.{name} (a Jittor checkpoint '
                            'holds only arrays; anything else could run code); nothing of it was run')


class _Limited(io.RawIOBase):
    """The first `length` bytes of an open file (the pickle without Jittor's trailer)."""

    def __init__(self, f, length):
        self.f, self.left = f, length

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.f.read(min(len(buffer), self.left))
        self.left -= len(data)
        buffer[:len(data)] = data
        return len(data)


def _verify_checksum(f, length, path):
    digest = hashlib.sha1()
    f.seek(0)
    for block in iter(lambda: f.read(min(1 << 20, length - f.tell())), b''):
        digest.update(block)
    if digest.digest() != f.read(TRAILER - len(MAGIC)):
        raise ConversionError(f'{path}: the checksum Jittor wrote does not match the contents: the file is '
                              'corrupt or truncated; download it again')


def is_jittor_pickle(path):
    """Whether `path` looks like a Jittor checkpoint: Jittor's trailer, or a pickle naming jittor_core.Var early."""
    try:
        with open(path, 'rb') as f:
            head = f.read(1 << 16)
            f.seek(0, 2)
            if f.tell() < len(MAGIC):
                return False
            f.seek(-len(MAGIC), 2)
            tail = f.read()
    except OSError:
        return False
    return tail == MAGIC or (head[:1] == b'\x80' and b'jittor_core' in head)


def read_jittor(path):
    """{key: float32 C-contiguous array} of a Jittor `.pkl` checkpoint, in its own (state_dict) order.

    The file is streamed (checksum, then unpickling), never held whole in memory: a generator's is 560 MB."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(size - len(MAGIC), 0))
            length = size - TRAILER if size >= TRAILER and f.read() == MAGIC else size
            if length != size:
                _verify_checksum(f, length, path)
            f.seek(0)
            try:
                obj = _Unpickler(io.BufferedReader(_Limited(f, length)), path).load()
            except RefusedPickle:
                raise
            except Exception as error:  # truncated or garbled bytes fail in many ways
                raise ConversionError(f'{path} is not a readable Jittor checkpoint, or is corrupt '
                                      f'({type(error).__name__}: {error})') from None
    except OSError as error:
        raise ConversionError(f'cannot read {path}: {error.strerror or error}') from None
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype.kind in 'fiu' for k, v in obj.items()):
        raise ConversionError(f'{path}: not a Jittor state dict (expected parameter names and numeric arrays)')
    return {key: np.ascontiguousarray(value, np.float32) for key, value in obj.items()}
