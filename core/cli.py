"""What every command-line entry point shares: user errors as one line, Ctrl-C, flags from a dataclass."""
import argparse
import dataclasses
import sys

from .errors import UserError


def run_cli(main, argv=None, error_status=1, interrupted='interrupted'):
    """Exit status of `main(argv)`. A UserError prints as one line and gives `error_status`; Ctrl-C prints
    `interrupted` and gives 130. Any other exception is a bug: it propagates with its traceback."""
    try:
        return main(argv)
    except UserError as error:
        print(f'error: {error}', file=sys.stderr)
        return error_status
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130


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
