import ms_models  # noqa: F401  (must come before mindspore: selects the fast oneDNN kernels)
import mindspore as ms
import numpy as np
import pytest
import torch


@pytest.fixture(params=['pynative', 'graph'])
def ms_mode(request):
    """Run the test in MindSpore's PyNative mode, then again in GRAPH (compiled) mode."""
    ms.set_context(mode=ms.GRAPH_MODE if request.param == 'graph' else ms.PYNATIVE_MODE)
    yield request.param
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.manual_seed(0)
