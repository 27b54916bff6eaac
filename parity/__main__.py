"""python -m parity: prove, layer by layer, that ms_models computes what torch_ref (= upstream) computes.

Both models get the same weights and input. The PyTorch reference also runs in float64, as the truth: each
layer's MindSpore output must be within 4x the PyTorch float32 output's own distance from it (at least
1e-5). The first layer over its bound is named, and the exit status is 1.
"""
import argparse
import ast
import logging
import os
import sys

os.environ.setdefault('GLOG_v', '3')  # MindSpore's own log: errors only

EXAMPLES = """
examples:
  python -m parity --all                                  # every architecture: eval, train, gradients
  python -m parity --arch u2net --size 320 320            # the whole table, random weights
  python -m parity --arch p2c_generator --mode train --grad
  python -m parity --torch-weights u2net_portrait.pth --input photo.jpg
  python -m parity --torch-weights photo2cartoon_weights.pt --network genA2B
  python -m parity --torch-weights u2net.pth --ms-weights u2net.ckpt   # check a conversion made elsewhere
  python -m parity --arch discriminator --config n_layers=5 ndf=64 --json report.json
  python -m parity --arch u2netp --plot errors.png            # where a port diverges, as a picture
  python -m parity --train-step                           # one photo2cartoon D+G training step: losses, gradients
  python -m parity --train-step --config ch=8 img_size=96 faceid=False --batch 2
  python -m parity --train-step --config steps=10          # ten steps: every step's losses, every parameter's move
"""


def parse_args(argv=None):
    from core.registry import ARCHS
    parser = argparse.ArgumentParser(prog='python -m parity', description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', choices=list(ARCHS), help='architecture (read from the weights if given)')
    parser.add_argument('--all', action='store_true', help='every architecture, eval and train with --grad, '
                        'random weights, smaller inputs (a few minutes): one verdict line each')
    parser.add_argument('--train-step', action='store_true',
                        help='photo2cartoon training steps (train.py\'s): every loss term and gradient; '
                             '--config takes ch, img_size, light, n_dis, faceid, steps, lr, iteration')
    parser.add_argument('--torch-weights', help='PyTorch checkpoint (.pt/.pth); converted here unless --ms-weights')
    parser.add_argument('--ms-weights', help='MindSpore .ckpt (or folder), compared as given')
    parser.add_argument('--network', help='network in a training checkpoint (genA2B, disGA, ...)')
    parser.add_argument('--config', nargs='+', default=[], metavar='KEY=VALUE',
                        help='constructor arguments for random weights, e.g. ngf=8 light=False')
    parser.add_argument('--input', help='a photo, prepared as the architecture\'s pipeline does')
    parser.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'), help='input size (default: per arch)')
    parser.add_argument('--batch', type=int, default=2, help='batch size (default 2: catches mixed-up samples)')
    parser.add_argument('--mode', choices=('eval', 'train'), default='eval',
                        help='train: BatchNorm on batch statistics, spectral-norm power iteration')
    parser.add_argument('--grad', action='store_true', help='also compare the gradient of every parameter')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='write the full report(s) here')
    parser.add_argument('--plot', help='draw each layer\'s error against its tolerance, in execution order, the '
                        'first failing layer marked (PNG)')
    parser.add_argument('--quiet', action='store_true', help='only the verdict line')
    args = parser.parse_args(argv)
    if not (args.all or args.arch or args.torch_weights or args.ms_weights or args.train_step):
        parser.error('give --arch, --all, --train-step, or weights')
    try:
        args.config = {key: ast.literal_eval(value) for key, value in (item.split('=', 1) for item in args.config)}
    except (ValueError, SyntaxError):
        parser.error('--config takes KEY=VALUE pairs with Python literals, e.g. ngf=8 light=False')
    return args


def run_one(args, arch, mode, grad):
    from core.errors import UserError
    from core.registry import ARCHS
    if args.train_step:
        from parity.training import compare_train_step
        try:
            return compare_train_step(**args.config, batch=args.batch, seed=args.seed)
        except TypeError as error:  # a --config key it does not take
            raise UserError(f'--config: {error}') from None
    from parity.compare import run_parity
    from parity.twins import build_twins, make_input
    from preprocess.images import read_rgb
    twins = build_twins(arch, args.config, args.torch_weights, args.ms_weights, args.network, args.seed)
    image = read_rgb(args.input) if args.input else None
    size = tuple(args.size) if args.size else (ARCHS[twins.arch].quick_size,) * 2 if args.all else None
    x = make_input(twins, size, args.batch, image, args.seed)
    return run_parity(twins, x, mode, grad)


def main(argv=None):
    from core.cli import run_cli
    return run_cli(_parity, argv, error_status=2)


def _parity(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(message)s')
    from core.files import check_writable
    for path in (args.json, args.plot):
        if path:
            check_writable(path)  # now, not after minutes of comparisons
    if args.plot and not args.plot.lower().endswith('.png'):
        from core.errors import UserError
        raise UserError(f'--plot {args.plot}: name the picture *.png')
    import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
    from core.registry import ARCHS
    from parity.report import table, to_json, verdict

    runs = [(arch, mode, True) for arch in ARCHS for mode in ('eval', 'train')] if args.all \
        else [(args.arch, args.mode, args.grad)]
    reports = []
    for arch, mode, grad in runs:
        report = run_one(args, arch, mode, grad)
        reports.append(report)
        print(verdict(report) if args.quiet or args.all else table(report), flush=True)
    if args.json:
        to_json(reports, args.json)
    if args.plot:
        from apps.plots import parity_errors
        parity_errors(reports, args.plot)
    return 0 if all(r.ok for r in reports) else 1


if __name__ == '__main__':
    sys.exit(main())
