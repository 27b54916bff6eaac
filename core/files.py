"""Writing files so that a crash or an error never leaves half of one at the final path."""
import errno
import glob
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager

from .errors import UserError


class OutputError(UserError):
    """An output that cannot be written: no such folder, no permission, a full disk."""


@contextmanager
def atomic_outputs(paths):
    """Temporary paths beside `paths` (same extensions); they replace `paths` only if the block succeeds.

    Folders are created as needed. On any error the temporary files are removed and nothing is published;
    an OSError (here or in the block) becomes an OutputError that names the outputs.
    """
    temps = []
    try:
        for path in paths:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.',
                                            suffix=os.path.splitext(path)[1])
            os.close(handle)
            temps.append(temp)
        yield temps
        for temp, path in zip(temps, paths):
            publish(temp, path)
    except OSError as error:
        raise OutputError(_why_not_written(paths, temps, error)) from None
    except Exception:
        # Writers that hide the OSError (torch.save: "unexpected pos"; MindSpore's checkpoint writer): when
        # the disk is full, say that, in one line; any other failure is a bug and keeps its traceback.
        if _disk_full(paths):
            raise OutputError(_why_not_written(paths, temps, OSError(errno.ENOSPC, 'no space left'))) from None
        raise
    finally:
        for leftover in _leftovers(temps):
            if os.path.isdir(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                os.remove(leftover)


def publish(temp, path):
    """`temp` renamed to `path` with the permissions a new file gets (mkstemp makes 0600, MindSpore's writers
    0400)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    os.replace(temp, path)


def _leftovers(temps):
    """The temporaries, and what writers made beside them under the same unique stem (MindSpore's
    save_checkpoint writes <stem>.tmp and renames it)."""
    found = []
    for temp in temps:
        found += [path for path in glob.glob(glob.escape(os.path.splitext(temp)[0]) + '*') if path not in found]
    return found


def check_writable(path):
    """An OutputError now, before any work, if `path` could not be created: the nearest existing folder
    above it must be a writable folder."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f'cannot write {path}: {folder} is not a writable folder')


def _disk_full(paths):
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(paths[0]))).free < 2 ** 20
    except OSError:
        return False


@contextmanager
def staging_folder(path):
    """A temporary folder beside `path` for writers that pick their own file names (MindSpore's export):
    removed on any exit; an OSError, or any failure on a full disk, becomes an OutputError."""
    folder = os.path.dirname(os.path.abspath(path))
    staging = None
    try:
        staging = tempfile.mkdtemp(dir=folder, prefix='.' + os.path.basename(path) + '.')
        yield staging
    except OSError as error:
        raise OutputError(_why_not_written([path], [], error)) from None
    except Exception:
        if _disk_full([path]):
            raise OutputError(_why_not_written([path], [], OSError(errno.ENOSPC, 'no space left'))) from None
        raise
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def sha256_of(path):
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _why_not_written(paths, temps, error):
    if error.errno == errno.ENOSPC or _disk_full(paths):
        folder = os.path.dirname(os.path.abspath(paths[0]))
        written = sum(os.path.getsize(t) for t in _leftovers(temps) if os.path.isfile(t))
        free = shutil.disk_usage(folder).free
        return (f'no space left on {folder}: {_mib(free)} free, and the output needs more than the '
                f'{_mib(written)} written when the disk filled; free some space or write elsewhere')
    return f'cannot write {", ".join(map(str, paths))}: {error.strerror or error}'


def _mib(size):
    return f'{size / 2 ** 20:.1f} MB'
