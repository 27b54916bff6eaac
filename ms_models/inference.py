"""Running a MindSpore model on numpy arrays: device and execution mode, and a no-frills predictor."""
import logging
import os

import mindspore as ms
import numpy as np

from core.errors import UserError

logger = logging.getLogger(__name__)

DEVICE_TARGETS = ('CPU', 'GPU', 'Ascend')
MODES = {'graph': ms.GRAPH_MODE, 'pynative': ms.PYNATIVE_MODE}


def configure(device_target='CPU', mode='graph', device_id=None):
    """Select the backend and execution mode for every model built afterwards.

    GRAPH compiles each input shape once and then runs without Python overhead; PyNative runs op by op,
    for debugging. The same code runs on CPU, GPU and Ascend: only this call changes.
    """
    if device_target not in DEVICE_TARGETS:
        raise ValueError(f'device_target must be one of {DEVICE_TARGETS}, not {device_target!r}')
    if not ms.hal.is_available(device_target):
        raise UserError(f'this MindSpore installation cannot run on {device_target} (its {device_target} '
                           'package and drivers are needed); use --device_target CPU')
    ms.set_context(mode=MODES[mode])
    if device_id is not None or ms.get_context('device_target') != device_target:
        ms.set_device(device_target, device_id)  # only allowed before the first kernel runs


# MindSpore's CPU collectives give up when a peer is more than 30 s late (measured: one rank 45 s behind
# failed the AllReduce). Ranks are that far apart whenever their work differs: compiling the training steps
# takes minutes, and test.py's workers wait for each other only at the end. A day, unless the user sets it.
CPU_COLLECTIVE_TIMEOUT_S = 86400


def join_job():
    """(rank, world size) of this worker in an msrun job; a UserError when there is no job to join."""
    from mindspore.communication import get_group_size, get_rank, init
    os.environ.setdefault('MS_CPU_COMM_OP_TIMEOUT', str(CPU_COLLECTIVE_TIMEOUT_S))  # before the collectives start
    try:
        init()
    except RuntimeError as error:
        raise UserError(f'--distribute: no msrun job to join ({str(error).strip().splitlines()[0]}); start '
                        'the command under msrun (see its examples)') from None
    return get_rank(), get_group_size()


def barrier():
    """Wait until every worker of the job has come here (a one-number AllReduce)."""
    from mindspore import ops
    ops.AllReduce()(ms.Tensor(np.ones(1, np.float32))).asnumpy()


class Predictor:
    """`predictor(x)` -> list of numpy outputs, for a network in inference mode."""

    def __init__(self, net):
        self.net = net
        net.set_train(False)

    def __call__(self, x):
        outputs = self.net(ms.Tensor(np.ascontiguousarray(x, np.float32)))
        return [o.asnumpy() for o in (outputs if isinstance(outputs, (tuple, list)) else [outputs])]
