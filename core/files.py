"""Writing files so that a crash or an error never leaves half of one at the final path."""
import os
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
        umask = os.umask(0)
        os.umask(umask)
        for temp, path in zip(temps, paths):
            os.chmod(temp, 0o666 & ~umask)  # mkstemp makes 0600 (and MindSpore's writer 0400)
            os.replace(temp, path)
    except OSError as error:
        raise OutputError(f'cannot write {", ".join(map(str, paths))}: {error.strerror or error}') from None
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.remove(temp)
