"""python -m weights_convert SRC DST [--arch ARCH]: PyTorch checkpoints to MindSpore and back."""
import argparse
import logging
import sys

from core.cli import run_cli
from core.registry import ARCHS, TRAINING_NETWORKS

EXAMPLES = f"""
examples:
  python -m weights_convert photo2cartoon_weights.pt p2c_ckpt/    # one <network>.ckpt per network
  python -m weights_convert u2net_portrait.pth u2net_portrait.ckpt
  python -m weights_convert model_mobilefacenet.pth mobilefacenet.ckpt --arch mobilefacenet
  python -m weights_convert p2c_ckpt/ photo2cartoon_finetuned.pt  # back to the upstream layout
  python -m weights_convert genA2B.ckpt genA2B.pt
  python -m weights_convert ArtLine_650.pkl artline.ckpt      # a fastai export, read without running it
  python -m weights_convert Params/ deepfacedrawing/           # DeepFaceDrawing: 16 Jittor .pkl + latent banks
  python -m weights_convert deepfacedrawing/ Params_torch/     # back: upstream's layout, .pth and .bin files
  python -m weights_convert Params/Combine/latest_net_G.pkl G.ckpt

The direction follows SRC: a .ckpt file or a folder of .ckpt files goes to PyTorch, anything else to
MindSpore. Training checkpoints hold some of {', '.join(TRAINING_NETWORKS)}.
Architectures (detected from the keys when --arch is omitted):
""" + '\n'.join(f'  {name:17s}{arch.summary}' for name, arch in ARCHS.items())


def main(argv=None):
    return run_cli(_convert, argv)


def _convert(argv):
    parser = argparse.ArgumentParser(prog='python -m weights_convert', description=__doc__.split(':', 1)[1].strip(),
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='PyTorch .pt/.pth, Jittor .pkl, MindSpore .ckpt, a folder of <network>.ckpt, '
                        "or DeepFaceDrawing's Params/ folder")
    parser.add_argument('dst', help='.ckpt file (one network) or folder (training checkpoint); .pt on the way back')
    parser.add_argument('--arch', choices=list(ARCHS), help='check the checkpoint is this architecture '
                        '(for training checkpoints: the generators\' one)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s: %(message)s')

    from .convert import convert
    networks = convert(args.src, args.dst, args.arch)
    print(f'{args.src} -> {args.dst}: {len(networks)} network{"s" * (len(networks) > 1)}')
    for network in networks:
        print(f'  {network.describe()} -> {network.path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
