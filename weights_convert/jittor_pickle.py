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
    """{key: float32 C-contiguous array} of a Jittor `.pkl` checkpoint, in its own (state_dict) order."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as error:
        raise ConversionError(f'cannot read {path}: {error.strerror or error}') from None
    if data.endswith(MAGIC):
        data, digest = data[:-TRAILER], data[-TRAILER:-len(MAGIC)]
        if hashlib.sha1(data).digest() != digest:
            raise ConversionError(f'{path}: the checksum Jittor wrote does not match the contents: the file is '
                                  'corrupt or truncated; download it again')
    try:
        obj = _Unpickler(io.BytesIO(data), path).load()
    except RefusedPickle:
        raise
    except Exception as error:  # truncated or garbled bytes fail in many ways
        raise ConversionError(f'{path} is not a readable Jittor checkpoint, or is corrupt '
                              f'({type(error).__name__}: {error})') from None
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype.kind in 'fiu' for k, v in obj.items()):
        raise ConversionError(f'{path}: not a Jittor state dict (expected parameter names and numeric arrays)')
    return {key: np.ascontiguousarray(value, np.float32) for key, value in obj.items()}
