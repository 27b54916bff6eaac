"""python -m apps.export: a generator or U^2-Net as a deployable MindIR or ONNX file, verified.

The file is written under a temporary name, loaded back (MindIR: mindspore.load + nn.GraphCell; ONNX:
onnxruntime), run on a test input and compared with the eager MindSpore model; only a file that agrees
(max-abs error <= 1e-4 x max(1, max|reference|) on every output) is renamed into place.
"""
import argparse
import logging
import os
import sys

os.environ.setdefault('GLOG_v', '3')  # MindSpore's own log: errors only

from core.cli import run_cli  # noqa: E402
from core.errors import UserError  # noqa: E402
from core.files import publish, staging_folder  # noqa: E402
from core.registry import ARCHS  # noqa: E402

logger = logging.getLogger(__name__)

EXAMPLES = """
examples:
  python -m apps.export --arch u2net --weights u2net_portrait.pth --format MINDIR --size 512 512 --out portrait.mindir
  python -m apps.export --arch u2netp --weights u2netp.pth --format ONNX --out u2netp_320.onnx
  python -m apps.export --arch p2c_generator --weights photo2cartoon_weights.pt --format MINDIR --out p2c.mindir
  python -m apps.export --arch dfd_generator --weights deepfacedrawing/generator.ckpt --format ONNX --out dfd_g.onnx
  python -m apps.export --arch dfd_feature_decoder --weights latest_net_DE_eye1.pkl --format MINDIR --out de.mindir

Shapes are static: one file per input size (--size H W; default: the architecture's working size). The
file takes one float32 NCHW input, normalised as the test.py pipelines do (DeepFaceDrawing's decoders: a
(1, 512) latent), and returns the model's outputs in order: (image, cam_logit, heatmap) for generators,
(d0, ..., d6) for U^2-Net; in ONNX files they carry these names and the input is called 'input'.
"""

FORMATS = {'MINDIR': '.mindir', 'ONNX': '.onnx'}
INPUT_NAME = 'input'


class ExportError(UserError):
    """A model that cannot be exported, or whose exported file does not compute what the model does."""


def check_writable(path):
    """The output's folder must exist and be writable (export creates no folders)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise ExportError(f'{path}: cannot write there (missing folder or no permission)')


def export(net, path, file_format, input_shape, output_names=None):
    """Write `net` for a float32 input of `input_shape` (e.g. (1, 3, H, W), Arch.input_shape) to `path`
    (atomically), verified; returns the worst error ratio. ONNX files get the input name INPUT_NAME and
    `output_names` (MindIR files keep MindSpore's)."""
    import mindspore as ms
    import numpy as np

    check_writable(path)
    extension = FORMATS[file_format]
    x = np.random.default_rng(0).uniform(-1, 1, input_shape).astype(np.float32)
    net.set_train(False)
    try:
        reference = [o.asnumpy() for o in _as_list(net(ms.Tensor(x)))]
    except (ValueError, RuntimeError) as error:
        raise ExportError(f'the model does not run on a {"x".join(map(str, input_shape))} input: '
                          f'{str(error).strip().splitlines()[0]}') from None
    with staging_folder(path) as staging:
        staged = os.path.join(staging, 'model')
        from ms_models.layers import export_friendly
        try:
            with export_friendly():
                ms.export(net, ms.Tensor(x), file_name=staged, file_format=file_format)
        except (RuntimeError, TypeError, ValueError) as error:
            raise ExportError(f'MindSpore could not export this model to {file_format}: '
                              f'{str(error).strip().splitlines()[0]}') from error
        staged += extension
        if file_format == 'ONNX':
            _explicit_padding(staged)
            if output_names:
                _name_onnx_tensors(staged, INPUT_NAME, output_names)
        outputs = _run_exported(staged, file_format, x)
        worst = _check(outputs, reference)
        publish(staged, path)
    return worst


def _name_onnx_tensors(path, input_name, output_names):
    """Rename the graph's input and outputs (MindSpore names them after construct's argument and by number)."""
    import onnx
    model = onnx.load(path)
    graph = model.graph
    renames = {graph.input[0].name: input_name, **dict(zip([o.name for o in graph.output], output_names))}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
    onnx.save(model, path)


def _explicit_padding(path):
    """MaxPool's and ConvTranspose's auto_pad (SAME_*: MindSpore's form of U^2-Net's ceil-mode pool; VALID) as
    explicit pads: the same numbers (max-pool padding never wins), and what every runtime takes;
    onnxruntime-web's WebGPU and WebGL backends support neither auto_pad nor ceil_mode."""
    import onnx
    from onnx import helper, shape_inference
    model = onnx.load(path)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(shape_inference.infer_shapes(model).graph.value_info) + list(model.graph.input)}
    for node in model.graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        auto_pad = attributes.get('auto_pad', b'NOTSET').decode()
        if node.op_type == 'ConvTranspose' and auto_pad == 'VALID':
            # MindSpore also writes a 4-element output_shape, which ONNX refuses (it takes the spatial sizes):
            # zero pads say the same, (H - 1) * stride + kernel
            kept = [a for a in node.attribute if a.name not in ('auto_pad', 'output_shape')]
            del node.attribute[:]
            node.attribute.extend(kept + [helper.make_attribute('pads', [0] * 4)])
            continue
        if node.op_type != 'MaxPool' or auto_pad == 'NOTSET':
            continue
        begin, end = [], []
        for side, kernel, stride in zip(shapes[node.input[0]][2:], attributes['kernel_shape'], attributes['strides']):
            total = max((-(-side // stride) - 1) * stride + kernel - side, 0) if auto_pad.startswith('SAME') else 0
            begin.append(total // 2 if auto_pad == 'SAME_UPPER' else total - total // 2)
            end.append(total - begin[-1])
        kept = [a for a in node.attribute if a.name != 'auto_pad']
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute('pads', begin + end)])
    onnx.save(model, path)


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def _run_exported(path, file_format, x):
    import numpy as np
    if file_format == 'MINDIR':
        import mindspore as ms
        from mindspore import nn
        graph = nn.GraphCell(ms.load(path))
        return [o.asnumpy() for o in _as_list(graph(ms.Tensor(x)))]
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    return [np.asarray(o) for o in session.run(None, {session.get_inputs()[0].name: x})]


def onnx_names(path):
    """(input names, output names) of an ONNX file."""
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    return [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]


def _check(outputs, reference):
    """The worst max-abs error as a fraction of its bound; an ExportError if over, or a shape differs."""
    import numpy as np
    if len(outputs) != len(reference):
        raise ExportError(f'the exported model returns {len(outputs)} outputs, the model {len(reference)}')
    worst = 0.0
    for i, (out, ref) in enumerate(zip(outputs, reference)):
        if out.shape != ref.shape:
            raise ExportError(f'output {i}: the exported model gives shape {out.shape}, the model {ref.shape}')
        bound = 1e-4 * max(1.0, float(np.abs(ref).max()))
        error = float(np.abs(out.astype(np.float64) - ref).max())
        if not error <= bound:
            raise ExportError(f'output {i}: the exported model differs from the model by {error:.3g} '
                              f'(bound {bound:.3g}); the file was not kept')
        worst = max(worst, error / bound)
    return worst


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog='python -m apps.export', description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', required=True, choices=[name for name, arch in ARCHS.items() if arch.exportable],
                        help='u2net covers u2net.pth, u2net_portrait.pth and u2net_human_seg.pth')
    parser.add_argument('--weights', required=True, help='official .pt/.pth or converted .ckpt')
    parser.add_argument('--network', default=None,
                        help='which network of a training checkpoint (default genA2B for generators)')
    parser.add_argument('--format', required=True, choices=list(FORMATS), type=str.upper)
    parser.add_argument('--out', required=True, help='output file')
    parser.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'), help='input size (static)')
    parser.add_argument('--dynamic', action='store_true', help='variable input size (see below: refused)')
    return parser.parse_args(argv)


def main(argv=None):
    return run_cli(_export, argv)


def _export(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    if args.dynamic:
        raise ExportError('--dynamic: MindSpore 2.10 exports ONNX with static shapes only, and its dynamic '
                          'MindIR returned wrong output shapes when reused across sizes; export one file '
                          'per size with --size H W')
    if args.size and min(args.size) < 1:
        raise ExportError(f'--size {args.size[0]} {args.size[1]}: give a positive height and width')
    if not args.out.lower().endswith(FORMATS[args.format]):
        raise ExportError(f'--out {args.out}: a {args.format} file is named *{FORMATS[args.format]} (or pass '
                          f'--format {"ONNX" if args.format == "MINDIR" else "MINDIR"})')
    check_writable(args.out)
    if os.path.exists(args.out) and os.path.exists(args.weights) and os.path.samefile(args.out, args.weights):
        raise ExportError(f'--out {args.out} is the weights file: choose another name (inputs are never overwritten)')
    import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
    import mindspore as ms

    from weights_convert import load_network

    ms.set_context(mode=ms.PYNATIVE_MODE)
    arch = ARCHS[args.arch]
    found = load_network(args.weights, args.network or (arch.networks[0] if arch.networks else None), args.arch)
    if args.size and arch.latent_input:
        raise ExportError(f'--size: {args.arch} takes a latent vector, not an image')
    shape = arch.input_shape(found.config, 1, tuple(args.size) if args.size else None)
    worst = export(found.net, args.out, args.format, shape, arch.outputs)
    logger.info('%s (%s, input %s) -> %s; verified: max error %.2g of the bound', found.describe(),
                args.format, 'x'.join(map(str, shape)), args.out, worst)
    return 0


if __name__ == '__main__':
    sys.exit(main())
