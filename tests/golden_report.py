"""Print the achieved golden errors as a Markdown table (for the README): python tests/golden_report.py"""
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ms_models  # noqa: E402,F401  (before mindspore)
import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from golden import CASES, load_case, relative_error  # noqa: E402
from core.registry import ARCHS  # noqa: E402
from weights_convert import load_network  # noqa: E402


def main():
    print('| case | upstream model | tol | torch_ref | ms_models PyNative | ms_models GRAPH |')
    print('|---|---|---|---|---|---|')
    for name in CASES:
        case = load_case(name)
        reference = ARCHS[case.arch].build_torch(case.config).eval()
        reference.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in case.state_dict.items()})
        with torch.no_grad():
            torch_out = reference(torch.from_numpy(case.x))
        with tempfile.TemporaryDirectory() as folder:
            net = load_network(str(case.save_upstream(folder)), case.network).net
        errors = []
        for outputs in [torch_out]:
            errors.append(max(relative_error(o.numpy(), r) for o, r in zip(_list(outputs), case.outputs)))
        for mode in (ms.PYNATIVE_MODE, ms.GRAPH_MODE):
            ms.set_context(mode=mode)
            outputs = _list(net(ms.Tensor(case.x)))
            errors.append(max(relative_error(o.asnumpy(), r) for o, r in zip(outputs, case.outputs)))
        ms.set_context(mode=ms.PYNATIVE_MODE)
        config = ', '.join(f'{k}={v}' for k, v in case.config.items())
        print(f'| {name} | {ARCHS[case.arch].cls}({config}) | {case.tol:.2e} | '
              + ' | '.join(f'{e:.2e}' for e in errors) + ' |')


def _list(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


if __name__ == '__main__':
    main()
