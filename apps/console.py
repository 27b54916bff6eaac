"""`portrait-art COMMAND ...`: one entry point for every command of the project.

test, train and bench are the scripts at the top of the source tree (`python test.py` keeps working as
documented); they are run from there, so this entry point needs the editable install of the README set-up.
"""
import importlib
import os
import runpy
import sys

MODULES = {  # command -> the module whose main(argv) it is
    'convert': 'weights_convert.__main__',
    'export': 'apps.export',
    'parity': 'parity.__main__',
    'prepare-data': 'preprocess.prepare_data',
    'web': 'web.__main__',
}
SCRIPTS = ('test', 'train', 'bench')  # top-level scripts of the source tree
SOURCE_TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USAGE = f"""usage: portrait-art COMMAND [ARGS...]

commands: {', '.join(SCRIPTS + tuple(MODULES))}; `portrait-art COMMAND --help` for each.
  portrait-art test --model u2net_portrait --photo_path me.jpg --save_path drawing.png
  portrait-art convert photo2cartoon_weights.pt p2c/
  portrait-art web build --model u2net_portrait --weights u2net_portrait.pth --out site/
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in MODULES:
        return importlib.import_module(MODULES[command]).main(rest)
    if command in SCRIPTS:
        script = os.path.join(SOURCE_TREE, f'{command}.py')
        if not os.path.isfile(script):
            print(f'error: {command}.py is not beside this installation; run it from a clone of the project '
                  '(the README set-up installs it editable)', file=sys.stderr)
            return 1
        sys.argv = [script, *rest]
        sys.path.insert(0, SOURCE_TREE)
        try:
            runpy.run_path(script, run_name='__main__')
        except SystemExit as done:
            return done.code
        return 0
    print(f'error: unknown command {command!r}\n{USAGE}', file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
