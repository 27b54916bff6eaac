"""Name rules between PyTorch state-dict keys and MindSpore parameter names.

The two model trees mirror each other, so a key's path is the same on both sides; only the leaf names of a
few layer types differ. Which rule applies is decided by the type of the MindSpore cell that owns the
parameter (never by guessing from the name: photo2cartoon's LIN also has parameters called gamma and beta).
Spectral-norm layers keep torch's own names (`weight_orig`, `bias`, `weight_u`, `weight_v`), as do convs,
linears and the U-GAT-IT norms.
"""
import ms_models  # noqa: F401  (oneDNN settings before MindSpore loads)
from mindspore import nn

# MindSpore cell type -> {torch leaf: mindspore leaf}
LEAF_RULES = {
    nn.BatchNorm2d: {'weight': 'gamma', 'bias': 'beta', 'running_mean': 'moving_mean',
                     'running_var': 'moving_variance'},
    nn.BatchNorm1d: {'weight': 'gamma', 'bias': 'beta', 'running_mean': 'moving_mean',
                     'running_var': 'moving_variance'},
    nn.PReLU: {'weight': 'w'},
}

# torch buffers that have no MindSpore counterpart, by owning cell type. BatchNorm's batch counter only
# matters for momentum=None, which none of these models use; the way back writes it as 0.
DROPPED_LEAVES = {
    nn.BatchNorm2d: ('num_batches_tracked',),
    nn.BatchNorm1d: ('num_batches_tracked',),
}


def _rule_type(cell):
    """The LEAF_RULES key `cell` is an instance of (e.g. nn.BatchNorm2d for a subclass of it), or None."""
    return next((cell_type for cell_type in LEAF_RULES if isinstance(cell, cell_type)), None)


def _owners(net):
    """{cell path: rule type} for every cell with a rule."""
    return {name: _rule_type(cell) for name, cell in net.cells_and_names() if _rule_type(cell) is not None}


def torch_to_mindspore_names(net):
    """{torch key: mindspore parameter name} for every parameter of the MindSpore `net`."""
    owners = _owners(net)
    mapping = {}
    for ms_name, _ in net.parameters_and_names():
        prefix, _, leaf = ms_name.rpartition('.')
        rules = LEAF_RULES.get(owners.get(prefix), {})
        torch_leaf = {ms_leaf: t_leaf for t_leaf, ms_leaf in rules.items()}.get(leaf, leaf)
        mapping[f'{prefix}.{torch_leaf}' if prefix else torch_leaf] = ms_name
    return mapping


def dropped_torch_keys(net):
    """torch keys that `net`'s upstream twin has and MindSpore does not keep (BatchNorm counters)."""
    return [f'{prefix}.{leaf}' for prefix, cell_type in _owners(net).items()
            for leaf in DROPPED_LEAVES.get(cell_type, ())]
