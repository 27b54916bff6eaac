"""Train photo2cartoon's U-GAT-IT in MindSpore (CPU, GPU or Ascend), with upstream's recipe and flags."""
import argparse
import logging
import os
import sys

os.environ.setdefault('GLOG_v', '3')  # MindSpore's own log: errors only

from core.cli import add_dataclass_flags, dataclass_from_args, run_cli  # noqa: E402

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


def parse_args(argv=None):
    """train.py's flags, one per TrainConfig field (upstream's names and defaults)."""
    from core.train_config import TrainConfig
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_flags(parser, TrainConfig)
    config = dataclass_from_args(TrainConfig, parser.parse_args(argv))
    config.validate()  # before MindSpore loads: a bad value costs a second, not minutes
    return config


def distributed_setup():
    """(rank, world size, gradient-reducer factory) under msrun."""
    from mindspore import nn

    from ms_models.inference import join_job
    rank, world = join_job()
    # value_and_grad does not average gradients across workers by itself: the reducer does.
    return rank, world, lambda params: nn.DistributedGradReducer(params, mean=True, degree=world)


def main(argv=None):
    return run_cli(_train, argv, interrupted_hint='the last complete checkpoint is intact; --resume True '
                                                  'continues from it')


def _train(argv):
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
    import mindspore as ms
    from apps.training import Training
    from ms_models.inference import configure

    configure(config.device_target, 'pynative')  # the trainer compiles its D and G steps itself (ms.jit)
    ms.set_seed(config.seed)
    rank, world, reducer = distributed_setup() if config.distribute else (0, 1, None)
    Training(config, rank, world, reducer).run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
