"""MindSpore ports of U-GAT-IT, photo2cartoon, MobileFaceNet and U^2-Net (no PyTorch in this package).

Importing this package picks oneDNN's AVX2 kernels for MindSpore on x86 CPUs: on AVX-512 Xeons its default
choice for NCHW 3x3 convolutions is a reference kernel about 130x slower than PyTorch. The variable must be
set before MindSpore creates its first kernel, hence here, before any submodule imports mindspore.
An ONEDNN_MAX_CPU_ISA already in the environment is left alone.
"""
import logging
import os
import sys

if 'ONEDNN_MAX_CPU_ISA' not in os.environ:
    if 'mindspore' in sys.modules:
        logging.getLogger(__name__).warning(
            'mindspore was imported before ms_models: oneDNN may pick slow convolution kernels on this CPU. '
            'Import ms_models first, or set ONEDNN_MAX_CPU_ISA=AVX2 in the environment.')
    os.environ['ONEDNN_MAX_CPU_ISA'] = 'AVX2'
