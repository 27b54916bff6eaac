"""The hyperparameters of photo2cartoon training, framework-free: train.py's flags are made from these fields.

`LossWeights` is shared by both training twins (torch_ref/ and ms_models/ugatit_train.py); `TrainConfig`
is everything a run of train.py takes, with upstream's flag names and defaults.
"""
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LossWeights:
    adv: float = 1.0
    cycle: float = 50.0
    identity: float = 10.0
    cam: float = 1000.0
    faceid: float = 1.0


@dataclass
class TrainConfig:
    """Every hyperparameter and option of a training run; train.py's flags are made from these fields
    (upstream's names and defaults)."""
    dataset: str = field(default='photo2cartoon', metadata={'help': 'dataset name (names the result folder)'})
    data_root: str = field(default=None, metadata={'help': 'folder with trainA/trainB/testA/testB '
                                                           '(default: dataset/<dataset>)'})
    result_dir: str = field(default=None, metadata={'help': 'default: results/<dataset>'})
    light: bool = field(default=True, metadata={'help': 'U-GAT-IT light (default) or full'})
    iteration: int = 1000000
    batch_size: int = 1
    print_freq: int = field(default=1000, metadata={'help': 'sample grids every N steps'})
    save_freq: int = field(default=1000, metadata={'help': 'checkpoint every N steps'})
    keep: int = field(default=3, metadata={'help': 'checkpoints to keep'})
    decay_flag: bool = field(default=True, metadata={'help': 'linear lr decay over the second half'})
    lr: float = 0.0001
    weights: LossWeights = field(default_factory=LossWeights, metadata={'flags': '{}_weight'})
    ch: int = field(default=32, metadata={'help': 'base channel number'})
    n_dis: int = field(default=7, metadata={'help': 'global discriminator layers (local: n_dis - 2); '
                                                    'photo2cartoon uses 7'})
    img_size: int = 256
    resume: bool = False
    pretrained_weights: str = field(default=None, metadata={'help': 'photo2cartoon_weights.pt or a folder of '
                                                                    '<network>.ckpt'})
    faceid_weights: str = field(default=None, metadata={'help': 'model_mobilefacenet.pth or its .ckpt'})
    device_target: str = field(default='CPU', metadata={'choices': ('CPU', 'GPU', 'Ascend')})
    mode: str = field(default='graph', metadata={
        'choices': ('graph', 'pynative'),
        'help': 'graph: every network compiled (default; the first step waits for it); pynative: eager, for '
                'debugging'})
    distribute: bool = field(default=False, metadata={'action': 'store_true',
                                                      'help': 'data parallel under msrun (see examples)'})
    seed: int = 0
    quiet: bool = field(default=False, metadata={'action': 'store_true', 'help': 'no progress bar'})

    def __post_init__(self):
        self.data_root = self.data_root or os.path.join('dataset', self.dataset)
        self.result_dir = self.result_dir or os.path.join('results', self.dataset)
