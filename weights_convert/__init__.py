"""PyTorch <-> MindSpore weight conversion for the project's architectures (see `python -m weights_convert -h`).

This package alone knows the checkpoint layouts and the name rules between the two frameworks; the
architectures themselves are in core.registry. It imports no application (test.py, training, export,
parity): they build on it.
"""
from .checkpoints import ConversionError, NetworkNotFound
from .convert import Network, convert, mindspore_network, mindspore_network_from_params, torch_state_dict
from .loading import load_network

__all__ = ['ConversionError', 'Network', 'NetworkNotFound', 'convert', 'load_network', 'mindspore_network',
           'mindspore_network_from_params', 'torch_state_dict']
