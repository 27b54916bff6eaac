"""Reading a fastai v1 `learn.export()` pickle (ArtLine_650.pkl) without running any of it.

An export is `torch.save` of a dict holding the whole Learner: the model as pickled nn.Module objects, the
data's transforms and normalisation, the loss function (ArtLine's `__main__.FeatureLoss`), `functools.partial`
optimisers... `torch.load(weights_only=True)` refuses it, and a plain `torch.load` would import fastai and
execute whatever the pickle asks for. Here every global the pickle names becomes an inert placeholder that
only records how it was called, except tensor storages and torch's own tensor rebuilders, which are
rebuilt as numpy arrays. Names that only an attack would use (os.system, eval, subprocess, ...) are refused
outright. The model's state dict is then read off the placeholders' `_parameters` / `_buffers` /
`_modules`, in torch's own order, and the export's normalisation and image size off its `data` state.

Both of torch's file formats are read: the zip archive (torch >= 1.6) and the legacy stream of pickles.
No torch is needed.
"""
import _compat_pickle
import io
import pickle
import zipfile
from dataclasses import dataclass

import numpy as np

from .checkpoints import ConversionError

# Modules whose functions run commands, load code or touch files: a checkpoint has no business naming them.
FORBIDDEN_MODULES = ('os', 'posix', 'nt', 'subprocess', 'sys', 'shutil', 'socket', 'importlib', 'runpy', 'pty',
                     'ctypes', 'code', 'codecs', 'marshal', 'pickle', 'webbrowser', 'multiprocessing', 'signal',
                     'platform', 'tempfile', 'pathlib', 'io', 'urllib', 'http', 'requests')
FORBIDDEN_BUILTINS = {'eval', 'exec', 'compile', 'open', '__import__', 'getattr', 'setattr', 'delattr', 'globals',
                      'locals', 'vars', 'input', 'breakpoint', 'exit', 'quit', 'help', 'memoryview'}

STORAGE_DTYPES = {'DoubleStorage': np.float64, 'FloatStorage': np.float32, 'HalfStorage': np.float16,
                  'LongStorage': np.int64, 'IntStorage': np.int32, 'ShortStorage': np.int16, 'CharStorage': np.int8,
                  'ByteStorage': np.uint8, 'BoolStorage': np.bool_}
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


class RefusedPickle(ConversionError):
    """A pickle that names a function only an attack would call: not loaded, nothing of it run."""


class Placeholder:
    """Stands in for any class or function a pickle names; calling or building it only records arguments."""
    global_name = '?'

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        instance.args = args
        return instance

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], (dict, type(None))):
            state = {**(state[0] or {}), **(state[1] or {})}  # (dict, slots) form
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.state = state

    def __repr__(self):
        return f'<{self.global_name}>'


@dataclass
class Storage:
    dtype: type
    key: str
    numel: int
    data: np.ndarray = None


@dataclass
class LazyTensor:
    """torch._utils._rebuild_tensor(_v2)'s arguments: the legacy format stores the data after the pickle, so
    arrays are cut out of their storages once the whole file has been read."""
    storage: object
    offset: int
    size: tuple
    stride: tuple

    def array(self):
        flat = self.storage.data
        if not self.size:
            return flat[self.offset].copy()
        strides = tuple(s * flat.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(flat[self.offset:], tuple(self.size), strides).copy()


def _rebuild_tensor(storage, offset, size, stride, *_):
    return LazyTensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *_):
    return data


def _rebuild_from_type(func, _new_type, args, _state):
    """torch._tensor._rebuild_from_type_v2 (tensor subclasses): the plain array."""
    return func(*args)


# Harmless builtins that pickles of containers name; every other global becomes a placeholder.
SAFE_BUILTINS = {'set': set, 'frozenset': frozenset, 'slice': slice, 'complex': complex, 'bytearray': bytearray,
                 'range': range}


class RestrictedUnpickler(pickle.Unpickler):
    """Tensors come back as numpy arrays, everything else as placeholders; forbidden names are refused."""

    def __init__(self, file, path, storages):
        super().__init__(file)
        self.path, self.storages = path, storages
        self.placeholders = {}

    def find_class(self, module, name):
        # Python 2 names (protocol 2 pickles, as torch.save writes, say __builtin__.set), as pickle maps them
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        root = module.split('.')[0]
        if root in FORBIDDEN_MODULES or (root == 'builtins' and name in FORBIDDEN_BUILTINS):
            raise RefusedPickle(f'{self.path}: refused to load, the pickle calls {module}.{name}, which could run '
                                  'code; nothing of it was run')
        if module == 'torch._utils' and name in ('_rebuild_tensor', '_rebuild_tensor_v2'):
            return _rebuild_tensor
        if module == 'torch._utils' and name in ('_rebuild_parameter', '_rebuild_parameter_with_state'):
            return _rebuild_parameter
        if module == 'torch._tensor' and name == '_rebuild_from_type_v2':
            return _rebuild_from_type
        if module == 'builtins' and name in SAFE_BUILTINS:
            return SAFE_BUILTINS[name]
        if module == 'torch' and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        if module == 'collections' and name == 'OrderedDict':
            return dict
        if (module, name) not in self.placeholders:
            self.placeholders[module, name] = type(name, (Placeholder,), {'global_name': f'{module}.{name}'})
        return self.placeholders[module, name]

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and pid and pid[0] == 'module':
            return pid[1]  # legacy format: a module class (a placeholder) with its source code, which is not needed
        if not (isinstance(pid, tuple) and pid and pid[0] == 'storage'):
            raise ConversionError(f'{self.path}: an unknown persistent record in the pickle')
        dtype, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if not isinstance(dtype, type) or not issubclass(dtype, np.generic):
            raise ConversionError(f'{self.path}: a tensor storage of an unknown type ({dtype})')
        view = pid[5] if len(pid) > 5 else None
        storage = self.storages.setdefault(key, Storage(dtype, key, numel))
        if view is not None:  # legacy: (view key, offset, size) into the root storage
            return _View(storage, *view)
        return storage


@dataclass
class _View:
    root: Storage
    key: str
    offset: int
    numel: int

    @property
    def data(self):
        return self.root.data[self.offset:self.offset + self.numel]


def _load_zip(path, read_data=True):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith('/data.pkl') or n == 'data.pkl']
        if not pickles:
            raise ConversionError(f'{path}: a zip file, but not a PyTorch checkpoint (no data.pkl)')
        prefix = pickles[0][:-len('data.pkl')]
        storages = {}
        obj = RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path, storages).load()
        for key, storage in storages.items() if read_data else ():
            raw = archive.read(f'{prefix}data/{key}')
            storage.data = np.frombuffer(raw, np.dtype(storage.dtype).newbyteorder('<'))[:storage.numel]
    return obj


def _load_legacy(path, read_data=True):
    storages = {}
    with open(path, 'rb') as f:
        def load():  # every record through the restricted unpickler: even the first could be an attack
            return RestrictedUnpickler(f, path, storages).load()

        if load() != LEGACY_MAGIC:
            raise ConversionError(f'{path}: not a PyTorch checkpoint')
        load()  # protocol version
        load()  # sys info
        obj = load()
        keys = load() if read_data else []
        for key in keys:
            storage = storages[str(key)]
            numel = int(np.frombuffer(f.read(8), '<i8')[0])
            itemsize = np.dtype(storage.dtype).itemsize
            storage.data = np.frombuffer(f.read(numel * itemsize), np.dtype(storage.dtype).newbyteorder('<'))
    return obj


@dataclass
class FastaiExport:
    """What a fastai v1 export holds that the project uses."""
    state_dict: dict  # key -> numpy array, torch's order
    mean: tuple = None  # the data's normalisation (RGB), if it was normalised
    std: tuple = None
    size: tuple = None  # (H, W) the export's transforms resize to, if they say
    model_class: str = ''


def read_fastai_export(path, weights=True):
    """The model weights and data settings of a fastai v1 export (zip or legacy format), never running it.
    With weights=False only the settings are read (state_dict stays empty): fast, for a pipeline's defaults."""
    try:
        obj = _load_zip(path, weights) if zipfile.is_zipfile(path) else _load_legacy(path, weights)
    except ConversionError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ConversionError(f'{path} is not a readable PyTorch or fastai file, or is corrupt '
                              f'({type(error).__name__}: {error})') from None
    model = obj.get('model') if isinstance(obj, dict) else None
    if not _is_module(model):
        found = ', '.join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
        raise ConversionError(f'{path}: not a fastai export with a model (found: {found})')
    state = {key: _materialize(value, path, key) for key, value in _state_dict(model).items()} if weights else {}
    export = FastaiExport(state, model_class=getattr(type(model), 'global_name', ''))
    data = obj.get('data')
    normalize = data.get('normalize') if isinstance(data, dict) else None
    if isinstance(normalize, dict) and 'mean' in normalize and weights:
        export.mean = tuple(float(v) for v in np.ravel(_materialize(normalize['mean'], path, 'mean')))
        export.std = tuple(float(v) for v in np.ravel(_materialize(normalize['std'], path, 'std')))
    size = data.get('tfmargs', {}).get('size') if isinstance(data, dict) else None
    if isinstance(size, (int, tuple, list)):
        export.size = (size, size) if isinstance(size, int) else tuple(size)
    return export


def _materialize(value, path, what):
    if isinstance(value, LazyTensor):
        return value.array()
    if isinstance(value, (list, tuple)) or np.isscalar(value):
        return np.asarray(value)
    raise ConversionError(f'{path}: {what} is a {type(value).__name__}, not a tensor')


def _is_module(obj):
    return isinstance(obj, Placeholder) and isinstance(getattr(obj, '_modules', None), dict)


def _state_dict(module, prefix=''):
    """torch.nn.Module.state_dict() of a placeholder module: its parameters, persistent buffers, then children."""
    out = {}
    non_persistent = getattr(module, '_non_persistent_buffers_set', set())
    for name, value in module._parameters.items():
        if value is not None:
            out[prefix + name] = value
    for name, value in module._buffers.items():
        if value is not None and name not in non_persistent:
            out[prefix + name] = value
    for name, child in module._modules.items():
        if child is not None:
            out.update(_state_dict(child, f'{prefix}{name}.'))
    return out
