"""Train photo2cartoon's U-GAT-IT in MindSpore (CPU, GPU or Ascend), with upstream's recipe and flags."""
import argparse
import logging
import os
import sys

os.environ.setdefault('GLOG_v', '3')  # MindSpore's own log: errors only

EXAMPLES = """
examples:
  python train.py --data_root dataset/photo2cartoon                  # upstream's recipe: ch 32, 256 px, light
  python train.py --data_root data --pretrained_weights photo2cartoon_weights.pt --faceid_weights model_mobilefacenet.pth
  python train.py --data_root data --ch 8 --img_size 96 --iteration 100 --faceid_weight 0   # a quick look
  python train.py --data_root data --resume True                     # continue from the newest checkpoint
  msrun --worker_num=2 --local_worker_num=2 --master_port=8118 --log_dir=logs --join=True \\
      train.py --data_root data --distribute                           # data parallel, one worker per device

data_root holds trainA/ (photos), trainB/ (cartoons) and optionally testA/, testB/ for the sample grids.
Checkpoints go to <result_dir>/model/step_NNNNNNN/ (the last --keep of them), one <network>.ckpt each plus
train_state.ckpt; back to upstream's layout with: python -m weights_convert <that folder> params.pt
The face-ID loss needs photo2cartoon's model_mobilefacenet.pth (or its .ckpt): --faceid_weights, or
./models/, or --faceid_weight 0 to train without it.
"""


def str2bool(value):
    if value.lower() in ('true', '1', 'yes'):
        return True
    if value.lower() in ('false', '0', 'no'):
        return False
    raise argparse.ArgumentTypeError(f'expected True or False, got {value!r}')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dataset', default='photo2cartoon', help='dataset name (names the result folder)')
    parser.add_argument('--data_root', help='folder with trainA/trainB/testA/testB (default: dataset/<dataset>)')
    parser.add_argument('--result_dir', help='default: results/<dataset>')
    parser.add_argument('--light', type=str2bool, default=True, help='U-GAT-IT light (default) or full')
    parser.add_argument('--iteration', type=int, default=1000000)
    parser.add_argument('--batch_size', type=int, default=1)
    parser.add_argument('--print_freq', type=int, default=1000, help='sample grids every N steps')
    parser.add_argument('--save_freq', type=int, default=1000, help='checkpoint every N steps')
    parser.add_argument('--keep', type=int, default=3, help='checkpoints to keep')
    parser.add_argument('--decay_flag', type=str2bool, default=True, help='linear lr decay over the second half')
    parser.add_argument('--lr', type=float, default=0.0001)
    parser.add_argument('--adv_weight', type=float, default=1)
    parser.add_argument('--cycle_weight', type=float, default=50)
    parser.add_argument('--identity_weight', type=float, default=10)
    parser.add_argument('--cam_weight', type=float, default=1000)
    parser.add_argument('--faceid_weight', type=float, default=1)
    parser.add_argument('--ch', type=int, default=32, help='base channel number')
    parser.add_argument('--n_dis', type=int, default=7,
                        help='global discriminator layers (local: n_dis - 2); photo2cartoon uses 7')
    parser.add_argument('--img_size', type=int, default=256)
    parser.add_argument('--resume', type=str2bool, default=False)
    parser.add_argument('--pretrained_weights', help='photo2cartoon_weights.pt or a folder of <network>.ckpt')
    parser.add_argument('--faceid_weights', help='model_mobilefacenet.pth or its .ckpt')
    parser.add_argument('--device_target', choices=('CPU', 'GPU', 'Ascend'), default='CPU')
    parser.add_argument('--mode', choices=('graph', 'pynative'), default='graph',
                        help='graph: every network compiled (default; the first step waits for it); '
                             'pynative: eager, for debugging')
    parser.add_argument('--distribute', action='store_true', help='data parallel under msrun (see examples)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    args.data_root = args.data_root or os.path.join('dataset', args.dataset)
    args.result_dir = args.result_dir or os.path.join('results', args.dataset)
    return args


def distributed_setup():
    """(rank, world size, gradient-reducer factory) under msrun."""
    from mindspore import nn
    from mindspore.communication import get_group_size, get_rank, init
    init()
    world = get_group_size()
    # value_and_grad does not average gradients across workers by itself: the reducer does.
    return get_rank(), world, lambda params: nn.DistributedGradReducer(params, mean=True, degree=world)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
    import mindspore as ms
    from ms_models.inference import configure
    from ms_models.training import Training, TrainConfig
    from ms_models.ugatit_train import LossWeights
    from preprocess.images import InputError
    from weights_convert import ConversionError

    try:
        configure(args.device_target, 'pynative')  # gradients taken eagerly, through compiled networks
        ms.set_seed(args.seed)
        rank, world, reducer = distributed_setup() if args.distribute else (0, 1, None)
        config = TrainConfig(
            data_root=args.data_root, result_dir=args.result_dir, iteration=args.iteration,
            batch_size=args.batch_size, print_freq=args.print_freq, save_freq=args.save_freq, keep=args.keep,
            decay_flag=args.decay_flag, lr=args.lr,
            weights=LossWeights(args.adv_weight, args.cycle_weight, args.identity_weight, args.cam_weight,
                                args.faceid_weight),
            ch=args.ch, n_dis=args.n_dis, img_size=args.img_size, light=args.light, resume=args.resume,
            pretrained_weights=args.pretrained_weights, faceid_weights=args.faceid_weights,
            jit=args.mode == 'graph', seed=args.seed, progress=not args.quiet)
        Training(config, rank, world, reducer).run()
    except (InputError, ConversionError, FloatingPointError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f'error: {str(error).strip().splitlines()[0]}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted: the last complete checkpoint is intact; --resume True continues from it', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
