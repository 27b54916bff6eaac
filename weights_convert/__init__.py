"""PyTorch <-> MindSpore weight conversion for the project's architectures (see `python -m weights_convert -h`).

This package alone knows the checkpoint layouts and the name rules between the two frameworks.
"""
from .archs import ARCHS, detect_arch
from .checkpoints import NETWORK_NAMES, ConversionError
from .convert import Network, convert, load_mindspore_network, mindspore_network, torch_state_dict
from .synthetic import spec_of, synthetic_state_dict

__all__ = ['ARCHS', 'NETWORK_NAMES', 'ConversionError', 'Network', 'convert', 'detect_arch',
           'load_mindspore_network', 'mindspore_network', 'spec_of', 'synthetic_state_dict', 'torch_state_dict']
