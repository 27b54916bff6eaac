"""Running a torch_ref model on numpy arrays, as the MindSpore Predictor does, for side-by-side checks."""
import numpy as np
import torch


class Predictor:
    """`predictor(x)` -> list of numpy outputs, for a model in eval mode without autograd."""

    def __init__(self, model):
        self.model = model.eval()

    def __call__(self, x):
        with torch.inference_mode():
            outputs = self.model(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
        return [o.numpy() for o in (outputs if isinstance(outputs, (tuple, list)) else [outputs])]
