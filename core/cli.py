"""What every command-line entry point shares: user errors as one line, Ctrl-C, flags from a dataclass."""
import argparse
import dataclasses
import signal
import sys

from .errors import UserError


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM, raised where the program is, so that every clean-up on the way out runs."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def install_signal_handlers():
    """SIGINT and SIGTERM raise Interrupted; returns the handlers they replace. Installed before MindSpore
    runs anything: left alone, its handler turns Ctrl-C into SIGTERM and the process dies without unwinding,
    leaving its temporaries behind."""
    return {signum: signal.signal(signum, _raise_interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}


def run_cli(main, argv=None, error_status=1, interrupted_hint=None):
    """Exit status of `main(argv)`. A UserError prints as one line and gives `error_status`; Ctrl-C prints
    'interrupted' (and `interrupted_hint`) and gives 130, SIGTERM 'terminated' and 143, once every clean-up
    on the way out has run. Any other exception is a bug: it propagates with its traceback."""
    previous = install_signal_handlers()
    try:
        return main(argv)
    except UserError as error:
        print(f'error: {error}', file=sys.stderr)
        return error_status
    except KeyboardInterrupt as error:
        signum = getattr(error, 'signum', signal.SIGINT)
        what = 'interrupted' if signum == signal.SIGINT else 'terminated'
        print(f'{what}: {interrupted_hint}' if interrupted_hint else what, file=sys.stderr)
        return 128 + signum
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: installed outside Python, nothing to restore
                signal.signal(signum, handler)


def str2bool(value):
    """Upstream's boolean flags take a word: --light True."""
    if value.lower() in ('true', '1', 'yes'):
        return True
    if value.lower() in ('false', '0', 'no'):
        return False
    raise argparse.ArgumentTypeError(f'expected True or False, got {value!r}')


def _flag_fields(cls):
    """(flag name, field, owner field or None) for every field of dataclass `cls`; a nested dataclass field
    whose metadata has a 'flags' template ('{}_weight') contributes one flag per field of its own."""
    for f in dataclasses.fields(cls):
        if 'flags' in f.metadata:
            for sub in dataclasses.fields(f.type):
                yield f.metadata['flags'].format(sub.name), sub, f
        else:
            yield f.name, f, None


def _default(f):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def add_dataclass_flags(parser, cls):
    """One --flag per field of `cls`, with the field's type, default and metadata (help, choices, action)."""
    for flag, f, _ in _flag_fields(cls):
        meta = dict(f.metadata)
        kwargs = {'default': _default(f), 'help': meta.pop('help', None)}
        if meta.get('action') == 'store_true':
            kwargs['action'] = 'store_true'
        else:
            kwargs['type'] = str2bool if f.type is bool else f.type
            if 'choices' in meta:
                kwargs['choices'] = meta['choices']
        parser.add_argument('--' + flag, **kwargs)


def dataclass_from_args(cls, args):
    """An instance of `cls` from the namespace that add_dataclass_flags' parser returned."""
    values, nested = {}, {}
    for flag, f, owner in _flag_fields(cls):
        if owner is None:
            values[f.name] = getattr(args, flag)
        else:
            nested.setdefault(owner, {})[f.name] = getattr(args, flag)
    values.update({owner.name: owner.type(**fields) for owner, fields in nested.items()})
    return cls(**values)
