"""python -m web: build a static site that runs the models in the browser, serve it, fetch onnxruntime-web."""
import argparse
import logging
import os
import sys

os.environ.setdefault('GLOG_v', '3')  # MindSpore's own log: errors only

from core.cli import run_cli  # noqa: E402

EXAMPLES = """
examples:
  python -m web build --model u2net_portrait --weights u2net_portrait.pth --out site/
  python -m web build --model u2net_portrait --weights u2netp_portrait.pth \\
                      --model u2net_portrait --weights u2net_portrait.pth \\
                      --model u2net_human_seg --weights u2net_human_seg.pth \\
                      --model photo2cartoon --weights photo2cartoon_weights.pt --out site/
  python -m web serve site/ --port 8000        # then open http://127.0.0.1:8000/
  python -m web fetch-runtime                  # onnxruntime-web from the npm registry (the set-up does it)
  python -m web bench --model u2net_portrait --weights u2netp_portrait.pth --photo me.png   # browser vs native

--model is test.py's; each --model takes the --weights and --size after it (default size: test.py's,
512 for a U2NET portrait model, 320 for U2NETP and the cut-out models, 256 for photo2cartoon). The first
model is the page's default. The page computes what test.py computes: the same pre- and post-processing,
the same network (exported to ONNX and verified against MindSpore). The photo2cartoon page takes an
aligned face (test.py --save_aligned; alpha = its mask), as test.py --aligned does.
"""


class ModelFlag(argparse.Action):
    """--model starts a model; --weights and --size set the latest one's."""

    def __call__(self, parser, namespace, value, option_string=None):
        from web.build import ModelSpec
        specs = getattr(namespace, 'specs', None) or []
        if option_string == '--model':
            specs.append(ModelSpec(value))
        elif not specs:
            parser.error(f'{option_string} comes after the --model it belongs to')
        elif getattr(specs[-1], self.dest) is not None:
            parser.error(f'{option_string} given twice for --model {specs[-1].model}; start the next with --model')
        else:
            setattr(specs[-1], self.dest, value)
        namespace.specs = specs


def parse_args(argv=None):
    from core.registry import TEST_MODELS

    parser = argparse.ArgumentParser(prog='python -m web', description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    build = commands.add_parser('build', help='assemble a site from weights', epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _model_flags(build, TEST_MODELS)
    build.add_argument('--out', required=True, help='the site folder (created; an earlier site there is replaced)')
    bench = commands.add_parser('bench', help='time the page (headless Chromium) against native onnxruntime and '
                                'MindSpore on the same models')
    _model_flags(bench, TEST_MODELS)
    bench.add_argument('--photo', required=True, help='the photo to time them on')
    bench.add_argument('--repeat', type=int, default=3, help='timed runs per model, after one warm-up')
    serve = commands.add_parser('serve', help='serve a site on 127.0.0.1')
    serve.add_argument('folder')
    serve.add_argument('--port', type=int, default=8000, help='default: %(default)s (0: any free port)')
    commands.add_parser('fetch-runtime', help='fetch the pinned onnxruntime-web with npm')
    return parser.parse_args(argv)


def _model_flags(parser, models):
    parser.add_argument('--model', choices=models, action=ModelFlag, dest='model', required=True,
                        help='a test.py model (repeat for several)')
    parser.add_argument('--weights', action=ModelFlag, dest='weights', help='its official .pt/.pth or a .ckpt')
    parser.add_argument('--size', type=int, action=ModelFlag, dest='size', help='its input side in pixels')


def main(argv=None):
    return run_cli(_main, argv)


def _main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    if args.command == 'fetch-runtime':
        from web.runtime import fetch_runtime
        fetch_runtime()
    elif args.command == 'bench':
        from web.bench import bench, table
        print(table(bench(args.specs, args.photo, args.repeat)))
    elif args.command == 'build':
        from web.build import build_site
        manifest = build_site(args.specs, args.out)
        logging.info('site -> %s (%s); serve it with: python -m web serve %s', args.out,
                     ', '.join(m['id'] for m in manifest['models']), args.out)
    else:
        from web.serve import site_server
        server = site_server(args.folder, args.port)
        logging.info('serving %s at http://127.0.0.1:%d/ (Ctrl-C stops)', args.folder, server.server_address[1])
        try:
            server.serve_forever()
        finally:
            server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
