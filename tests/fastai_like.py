"""Pickles made like a fastai v1 `learn.export()` of ArtLine, without fastai: the torch_ref model's modules are
saved under fastai's and torchvision's class names, inside a Learner-like state with ArtLine's other globals
(`functools.partial` optimiser, `__main__.FeatureLoss`, fastai data classes), as `torch.save` writes it.
"""
import copy
import functools
import sys
import types
import warnings

import torch

import torch_ref.artline as artline

# torch_ref class -> the global fastai 1.0.61 / torchvision pickles it under
DISGUISES = {
    artline.DynamicUnet: ('fastai.vision.models.unet', 'DynamicUnet'),
    artline.UnetBlock: ('fastai.vision.models.unet', 'UnetBlock'),
    artline.PixelShuffle_ICNR: ('fastai.layers', 'PixelShuffle_ICNR'),
    artline.SelfAttention: ('fastai.layers', 'SelfAttention'),
    artline.MergeLayer: ('fastai.layers', 'MergeLayer'),
    artline.ResBlock: ('fastai.layers', 'SequentialEx'),
    artline.SigmoidRange: ('fastai.layers', 'SigmoidRange'),
    artline.BasicBlock: ('torchvision.models.resnet', 'BasicBlock'),
}


def _fake_global(module_name, name, base=object):
    """A class importable as module_name.name (so pickle can name it), in a throwaway module."""
    parts = module_name.split('.')
    for depth in range(1, len(parts) + 1):  # parents first: pickle imports the module by its dotted name
        dotted = '.'.join(parts[:depth])
        if dotted not in sys.modules:
            sys.modules[dotted] = types.ModuleType(dotted)
            if depth > 1:
                setattr(sys.modules['.'.join(parts[:depth - 1])], parts[depth - 1], sys.modules[dotted])
    module = sys.modules[module_name]
    if not hasattr(module, name):
        setattr(module, name, type(name, (base,), {'__module__': module_name, '__qualname__': name}))
    return getattr(module, name)


def _adam(*args, **kwargs):
    return None


_adam.__module__, _adam.__qualname__ = 'torch.optim.adam', 'Adam'  # pickled by reference, as fastai's AdamW


def learner_state(model, size=128):
    """The dict fastai v1's Learner.export() saves, around a copy of `model` disguised as fastai's classes."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if type(module) in DISGUISES:
            module.__class__ = _fake_global(*DISGUISES[type(module)], base=type(module))
        elif isinstance(module, artline.ResNetBody):
            module.__class__ = torch.nn.Sequential
    feature_loss = _fake_global('__main__', 'FeatureLoss')()
    feature_loss.wgts = [20, 70, 10]
    imagenet = {'mean': torch.tensor([0.485, 0.456, 0.406]), 'std': torch.tensor([0.229, 0.224, 0.225]),
                'do_x': True, 'do_y': True}
    return {'opt_func': functools.partial(_fake_global('fastai.callback', 'OptimWrapper'), betas=(0.9, 0.99)),
            'loss_func': feature_loss, 'metrics': [], 'true_wd': True, 'bn_wd': True, 'wd': 1e-3, 'train_bn': True,
            'model_dir': 'models', 'callback_fns': [functools.partial(_fake_global('fastai.basic_train', 'Recorder'),
                                                                      add_time=True)],
            'cb_state': {}, 'model': model,
            'data': {'x_cls': _fake_global('fastai.vision.data', 'ImageImageList'), 'x_proc': [],
                     'y_cls': _fake_global('fastai.vision.data', 'ImageImageList'), 'y_proc': [],
                     'tfms': [_fake_global('fastai.vision.transform', 'RandTransform')()], 'tfm_y': True,
                     'tfmargs': {'size': size}, 'normalize': imagenet},
            'cls': _fake_global('fastai.basic_train', 'Learner')}


def save_export(model, path, legacy=False, size=128):
    with warnings.catch_warnings():  # the legacy format wants the (disguised) classes' source: not needed
        warnings.simplefilter('ignore', UserWarning)
        torch.save(learner_state(model, size), path, _use_new_zipfile_serialization=not legacy)
    return path
