"""The hyperparameters of photo2cartoon training, framework-free: train.py's flags are made from these fields.

`LossWeights` is shared by both training twins (torch_ref/ and ms_models/ugatit_train.py); `TrainConfig`
is everything a run of train.py takes, with upstream's flag names and defaults.
"""
import os
from dataclasses import dataclass, field

from .errors import UserError
from .registry import find_weights


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
        'help': 'graph: one compiled graph per network (default; the first step waits minutes for their '
                'compilation); pynative: eager, for debugging (much slower per step)'})
    compile_cache: bool = field(default=True, metadata={
        'help': "keep --mode graph's compiled graphs in <result_dir>/compile_cache/, so that a run with the same "
                "settings (--resume True, say) starts in seconds"})
    distribute: bool = field(default=False, metadata={'action': 'store_true',
                                                      'help': 'data parallel under msrun (see examples)'})
    seed: int = 0
    quiet: bool = field(default=False, metadata={'action': 'store_true', 'help': 'no progress bar'})

    def __post_init__(self):
        self.data_root = self.data_root or os.path.join('dataset', self.dataset)
        self.result_dir = self.result_dir or os.path.join('results', self.dataset)

    def validate(self):
        """Every value a run would trip over later (minutes in, or as a traceback), as one UserError now."""
        for name in ('iteration', 'batch_size', 'ch', 'print_freq', 'save_freq', 'keep'):
            if getattr(self, name) < 1:
                raise UserError(f'--{name} {getattr(self, name)}: give 1 or more')
        if self.lr <= 0:
            raise UserError(f'--lr {self.lr}: give a positive learning rate')
        if not 5 <= self.n_dis <= 8:
            raise UserError(f'--n_dis {self.n_dis}: give 5 to 8 (the local discriminator has n_dis - 2 layers, '
                            'at least 3; photo2cartoon uses 7)')
        if self.img_size % 16 or self.img_size < 32:
            raise UserError(f'--img_size {self.img_size}: give a multiple of 16, 32 or more (the generator\'s '
                            'hourglass blocks halve it four times); photo2cartoon uses 256')
        if self.img_size < min_image_size(self.n_dis):
            raise UserError(f'--img_size {self.img_size} is too small for a {self.n_dis}-layer discriminator (it '
                            f'needs {min_image_size(self.n_dis)}); lower --n_dis')
        for folder in ('trainA', 'trainB'):
            if not os.path.isdir(os.path.join(self.data_root, folder)):
                raise UserError(f'{os.path.join(self.data_root, folder)}: no such folder (--data_root holds trainA/ '
                                'and trainB/)')
        for flag, path in (('--pretrained_weights', self.pretrained_weights), ('--faceid_weights', self.faceid_weights)):
            if path and not os.path.exists(path):
                raise UserError(f'{flag} {path}: no such file or folder')
        if self.weights.faceid:
            find_weights('mobilefacenet', self.faceid_weights)  # says where to get it, and --faceid_weight 0


def min_image_size(n_dis):
    """The smallest image a global discriminator of n_dis layers can take (its last maps must be 3x3)."""
    return 3 * 2 ** (n_dis - 2)
