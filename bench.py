"""Inference speed and memory: MindSpore (GRAPH and PyNative) against PyTorch, side by side on this machine.

Each case runs in two worker processes, started together and timed in turns (PyTorch, MindSpore GRAPH,
MindSpore PyNative, repeat), so both see the same machine load. PyTorch's worker gets the environment this
command started with: its own thread count, none of the settings the project makes for MindSpore.
"""
import argparse
import collections
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from core.files import atomic_outputs
from core.memory import proc_kib
from core.registry import ARCHS

STARTED = time.perf_counter()  # in a worker: its start, for the time to its first finished forward or step

EXAMPLES = """
examples:
  python bench.py                          # every case, 5 timed runs each after warm-up
  python bench.py --cases u2net_320 p2c_generator_256 --repeat 10
  python bench.py --json bench.json
  python bench.py --cases train_step_ch32_256 --repeat 3   # training: seconds per step, ch 32, 256 px, light
  python bench.py --cases train_step_ch32_256 --repeat 1 --kernels   # where the step's time goes, by kernel

Columns: median ms per forward (batch 1, no autograd), MindSpore/PyTorch ratio (GRAPH), achieved GFLOP/s
(2 x multiply-adds, counted by PyTorch's FlopCounterMode), and peak memory (resident set high-water mark
of the worker above its size after importing its framework: PT MiB and MS MiB over the timed forwards,
MS MiB 1st over the first ones, where MindSpore compiles the graph).
--kernels: the seconds each framework's oneDNN kernels took in its last timed run (from oneDNN's verbose
log, whose writing the timings then include), by primitive, and the rest of that run outside oneDNN.
"""

@dataclass(frozen=True)
class Case:
    name: str
    arch: str  # core.registry.ARCHS key, 'portrait_pipeline' or 'train_step'
    config: dict
    size: int


# Every architecture at the sizes its registry entry names (default constructor), then whole pipelines.
CASES = [Case(f'{arch.name}_{size}', arch.name, arch.default_config, size)
         for arch in ARCHS.values() for size in arch.bench_sizes]
CASES.append(Case('portrait_pipeline_512', 'portrait_pipeline', {}, 512))
# DeepFaceDrawing: a 512x512 sketch through its 11 networks at their released sizes, banks of upstream's sizes.
CASES.append(Case('sketch_pipeline_512', 'sketch_pipeline', {}, 512))
# One photo2cartoon training step (D and G updates, face-ID loss), upstream's recipe: not in the default run.
TRAIN_CASE = Case('train_step_ch32_256', 'train_step', {'ch': 32, 'img_size': 256, 'light': True, 'n_dis': 7}, 256)
BY_NAME = {case.name: case for case in CASES + [TRAIN_CASE]}


# ---- workers: one framework each, driven by JSON lines on stdin/stdout ----

def _rss_mib(field_name):
    kib = proc_kib('/proc/self/status', field_name)
    return kib / 1024 if kib is not None else float('nan')


def _reset_peak():
    """Start a new resident-set high-water mark (Linux: clear_refs 5)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


class Worker:
    """Builds one case in one framework; answers 'run' with the seconds of one forward."""

    def __init__(self, framework, case):
        self.framework, self.case = framework, case
        import numpy as np
        self.baseline_mib = _rss_mib('VmRSS')
        rng = np.random.default_rng(0)
        if case.arch == 'train_step':
            self.forward = self._train_step(case.config, rng)
        elif case.arch == 'portrait_pipeline':
            from skimage import data
            from preprocess.u2net_tasks import PortraitDrawing
            photo = data.astronaut()  # 512 x 512
            predict = self._predictor('u2net', {})
            self.forward = lambda: PortraitDrawing(predict)(photo)
        elif case.arch == 'sketch_pipeline':
            self.forward = self._sketch_pipeline(rng)
        else:
            shape = ARCHS[case.arch].input_shape(case.config, 1, (case.size, case.size))
            x = rng.standard_normal(shape).astype(np.float32)
            predict = self._predictor(case.arch, case.config or None)
            self.forward = lambda: predict(x)

    def _predictor(self, arch, config):
        if self.framework == 'torch':
            import torch
            from torch_ref.inference import Predictor
            torch.manual_seed(0)
            return Predictor(ARCHS[arch].build_torch(config))
        from ms_models.inference import Predictor
        return Predictor(ARCHS[arch].build_mindspore(config))

    def _sketch_pipeline(self, rng):
        """DeepFaceDrawing's sketch -> face (male bank, 6247 rows per part as upstream's) on an edge sketch."""
        import cv2
        from skimage import data
        from core.registry import DFD_GENDERS, DFD_PARTS, dfd_bank_name, dfd_networks
        from preprocess.sketch_face import SketchToFace, edge_sketch
        sketch = edge_sketch(cv2.resize(data.astronaut()[20:300, 110:390], (512, 512)))
        networks = {network.name: self._predictor(network.arch, network.config)
                    for network in dfd_networks(everything=False)}
        banks = {dfd_bank_name(gender, part): (100 * rng.standard_normal((6247, 512))).astype('float32')
                 for gender in DFD_GENDERS for part in DFD_PARTS}
        task = SketchToFace(networks, banks)
        return lambda: task(sketch)

    def _train_step(self, config, rng):
        """A function that takes one training step on a fixed batch (a random frozen MobileFaceNet)."""
        import numpy as np
        size = config['img_size']
        real_A, real_B = (np.tanh(rng.standard_normal((1, 3, size, size))).astype(np.float32) for _ in range(2))
        facenet = ARCHS['mobilefacenet'].build_torch if self.framework == 'torch' else \
            ARCHS['mobilefacenet'].build_mindspore
        if self.framework == 'torch':
            import torch
            from torch_ref import ugatit_train as train
            torch.manual_seed(0)
            trainer = train.Trainer(train.UGATIT(**config), train.FaceFeatures(facenet({'embedding_size': 512})))
            real_A, real_B = torch.from_numpy(real_A), torch.from_numpy(real_B)
        else:
            import mindspore as ms
            from ms_models import ugatit_train as train
            ms.set_context(mode=ms.PYNATIVE_MODE)  # as train.py: the trainer compiles its D and G steps (ms.jit)
            trainer = train.Trainer(train.UGATIT(**config), train.FaceFeatures(facenet({'embedding_size': 512})))
            real_A, real_B = ms.Tensor(real_A), ms.Tensor(real_B)
        steps = iter(range(1, 10 ** 9))
        return lambda: trainer.step(next(steps), real_A, real_B)

    def set_mode(self, mode):
        if self.framework == 'mindspore' and self.case.arch != 'train_step':  # training: PyNative + ms.jit
            import mindspore as ms
            ms.set_context(mode=ms.GRAPH_MODE if mode == 'graph' else ms.PYNATIVE_MODE)

    def warm_up(self, mode):
        """Two forwards (compilation, allocator growth); returns the peak memory they needed, in MiB."""
        self.set_mode(mode)
        _reset_peak()
        began = time.perf_counter()
        self.forward()
        first_done = time.perf_counter()
        self.forward()
        return {'peak_mib': _rss_mib('VmHWM') - self.baseline_mib, 'first_s': first_done - began,
                'ready_s': first_done - STARTED, 'resident_mib': _rss_mib('VmHWM')}

    def steady_peak(self):
        """Peak memory since the warm-ups (the timed forwards alone), in MiB above the import baseline."""
        return {'peak_mib': _rss_mib('VmHWM') - self.baseline_mib, 'resident_mib': _rss_mib('VmHWM')}

    def reset_peak(self):
        _reset_peak()
        return {}

    def run(self, mode):
        self.set_mode(mode)
        began = time.perf_counter()
        self.forward()
        return {'seconds': time.perf_counter() - began}

    def flops(self):
        """Floating-point operations of one forward (PyTorch's count of convs and matmuls)."""
        import torch
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            self.forward()
        return {'flops': counter.get_total_flops()}


def gemm_gflops(n=2048, repeat=5):
    """Single-precision matrix-multiply rate with PyTorch's BLAS: the machine's practical peak."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        torch.mm(a, b)
        seconds.append(time.perf_counter() - began)
    return 2 * n ** 3 / min(seconds) / 1e9


def worker_main(framework, case_name):
    if framework == 'mindspore':
        import ms_models  # noqa: F401  (oneDNN's fast ISA, before MindSpore loads)
    import numpy  # noqa: F401  (in the baseline, like the framework)
    if framework == 'torch':
        import torch  # noqa: F401
    else:
        import mindspore  # noqa: F401
    answers, onednn_log = sys.stdout, None
    if os.environ.get('ONEDNN_VERBOSE'):
        # oneDNN writes its log on file descriptor 1: that goes to a file (a pipe slowed PyTorch's step by a
        # third), the answers to a copy of the pipe
        answers, onednn_log = os.fdopen(os.dup(1), 'w'), tempfile.TemporaryFile()
        os.dup2(onednn_log.fileno(), 1)
    worker = Worker(framework, BY_NAME[case_name]) if case_name else None
    for line in sys.stdin:
        request = json.loads(line)
        command = request['command']
        if onednn_log:
            onednn_log.seek(0)
            onednn_log.truncate()
        if command == 'gemm':
            answer = {'gflops': gemm_gflops()}
        elif command == 'threads':
            import torch
            answer = {'threads': torch.get_num_threads()}
        elif onednn_log and command == 'run' and framework == 'torch':  # MindSpore's oneDNN reads ONEDNN_VERBOSE
            import torch
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                answer = worker.run(*request['args'])
        else:
            answer = getattr(worker, command)(*request.get('args', []))
        if onednn_log and command == 'run':
            ctypes.CDLL(None).fflush(None)  # C stdio's buffer
            onednn_log.seek(0)
            answer['onednn_s'] = onednn_seconds(onednn_log.read().decode(errors='replace').splitlines())
        print('@@' + json.dumps(answer), file=answers, flush=True)


class WorkerDied(Exception):
    """A worker process ended before answering (killed for memory, say): that case is reported, not timed."""


def onednn_seconds(log_lines):
    """Seconds per oneDNN primitive (convolutions per direction) in lines of its verbose log."""
    seconds = collections.Counter()
    for line in log_lines:
        fields = line.rstrip().split(',')
        if 'exec' not in fields:
            continue
        at = fields.index('exec')  # onednn_verbose,[v1,primitive,]exec,cpu,<primitive>,<impl>,<prop kind>,...,<ms>
        primitive, prop_kind = fields[at + 2], fields[at + 4]
        if primitive == 'convolution':
            primitive += ' ' + prop_kind.replace('_training', '').replace('_inference', '')
        seconds[primitive] += float(fields[-1]) / 1000
    return dict(seconds)


class WorkerProcess:
    def __init__(self, framework, case_name='', kernels=False):
        self.framework = framework
        env = dict(os.environ)  # this process never imports ms_models: PyTorch's worker sees the user's settings
        if framework == 'mindspore':
            env.setdefault('GLOG_v', '3')
        if kernels:
            env['ONEDNN_VERBOSE'] = '1'
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--worker', framework, case_name],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=os.path.dirname(os.path.abspath(__file__)))

    def ask(self, command, *args):
        self.process.stdin.write(json.dumps({'command': command, 'args': list(args)}) + '\n')
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith('@@'):
                return json.loads(line[2:])
        status = self.process.wait()
        why = ' (killed: out of memory?)' if status == -9 else ''
        raise WorkerDied(f'the {self.framework} worker died, exit status {status}{why}')

    def close(self):
        self.process.stdin.close()
        self.process.wait()


# ---- the orchestrating process ----

@dataclass
class Result:
    case: str
    torch_ms: float
    graph_ms: float
    pynative_ms: float
    ratio: float  # MindSpore GRAPH / PyTorch, medians
    gflop: float
    torch_gflops: float
    graph_gflops: float
    torch_peak_mib: float  # first forwards (MindSpore: compilation included)
    graph_peak_mib: float
    torch_steady_mib: float  # the timed forwards
    ms_steady_mib: float
    graph_compile_s: float
    torch_resident_mib: float  # the worker's whole resident-set high-water mark, imports included
    ms_resident_mib: float
    torch_ready_s: float  # from the worker's start to the end of its first forward (or training step)
    ms_ready_s: float
    samples: dict = field(default_factory=dict)
    onednn_s: dict = field(default_factory=dict)  # --kernels: {'torch' / 'graph': {primitive: seconds}}


def bench_case(case, repeat, pynative, progress, kernels=False):
    """Warm-ups, then `repeat` timed rounds in turns. The training step at upstream's size needs more memory
    than both frameworks' workers can hold at once on a 24 GB machine: there PyTorch's worker runs to its
    end before MindSpore's starts (the machine otherwise idle for both)."""
    modes = {'torch': ['eval'], 'mindspore': ['graph'] + (['pynative'] if pynative else [])}
    groups = [['torch'], ['mindspore']] if case.arch == 'train_step' else [['torch', 'mindspore']]
    warm, steady, samples, flops = {}, {}, {'torch': [], 'graph': [], 'pynative': []}, float('nan')
    onednn = {}
    for group in groups:
        workers = {framework: WorkerProcess(framework, case.name, kernels) for framework in group}
        try:
            for framework, worker in workers.items():
                for mode in modes[framework]:
                    warm.setdefault(framework, worker.ask('warm_up', mode))
            if 'torch' in workers and case.arch != 'train_step':
                flops = workers['torch'].ask('flops')['flops']
            for worker in workers.values():
                worker.ask('reset_peak')
            for _ in progress(range(repeat), desc=case.name, leave=False):
                for framework, worker in workers.items():
                    for mode in modes[framework]:
                        column = 'torch' if framework == 'torch' else mode
                        answer = worker.ask('run', mode)
                        samples[column].append(answer['seconds'])
                        if kernels:
                            onednn[column] = answer['onednn_s']  # the last run's
            steady.update({framework: worker.ask('steady_peak') for framework, worker in workers.items()})
        finally:
            for worker in workers.values():
                worker.close()
    median = {k: statistics.median(v) * 1000 if v else float('nan') for k, v in samples.items()}
    return Result(case.name, median['torch'], median['graph'], median['pynative'], median['graph'] / median['torch'],
                  flops / 1e9, flops / median['torch'] / 1e6, flops / median['graph'] / 1e6,
                  warm['torch']['peak_mib'], warm['mindspore']['peak_mib'], steady['torch']['peak_mib'],
                  steady['mindspore']['peak_mib'], warm['mindspore']['first_s'],
                  max(warm['torch']['resident_mib'], steady['torch']['resident_mib']),
                  max(warm['mindspore']['resident_mib'], steady['mindspore']['resident_mib']),
                  warm['torch']['ready_s'], warm['mindspore']['ready_s'], samples, onednn)


def table(results, gemm):
    lines = [f'{"case":<22} {"PyTorch ms":>10} {"MS GRAPH ms":>11} {"MS PyNative ms":>14} {"ratio":>6} '
             f'{"GFLOP":>7} {"PT GFLOP/s":>10} {"MS GFLOP/s":>10} {"MS % GEMM":>9} {"PT MiB":>7} {"MS MiB":>7} '
             f'{"MS MiB 1st":>10}']
    for r in results:
        lines.append(f'{r.case:<22} {r.torch_ms:>10.1f} {r.graph_ms:>11.1f} {r.pynative_ms:>14.1f} {r.ratio:>6.2f} '
                     f'{r.gflop:>7.1f} {r.torch_gflops:>10.1f} {r.graph_gflops:>10.1f} '
                     f'{100 * r.graph_gflops / gemm:>8.0f}% {max(r.torch_peak_mib, r.torch_steady_mib):>7.0f} '
                     f'{r.ms_steady_mib:>7.0f} {r.graph_peak_mib:>10.0f}')
    for r in results:
        if r.onednn_s:
            lines.append(kernel_table(r))
    for r in results:
        if r.case == TRAIN_CASE.name:
            lines.append(f'{r.case}: first step done {r.ms_ready_s:.0f} s after the MindSpore worker started '
                         f'(compilation included; PyTorch {r.torch_ready_s:.0f} s); peak resident set, imports '
                         f'included: MindSpore {r.ms_resident_mib:.0f} MiB, PyTorch {r.torch_resident_mib:.0f} MiB '
                         f'({r.ms_resident_mib / r.torch_resident_mib:.2f}x)')
    return '\n'.join(lines)


def kernel_table(r):
    """Seconds of the last timed run by oneDNN primitive, PyTorch beside MindSpore GRAPH, then outside oneDNN."""
    names = {'PyTorch': 'torch', 'MS GRAPH': 'graph'}
    kernels = [r.onednn_s.get(column, {}) for column in names.values()]
    primitives = sorted({p for seconds in kernels for p in seconds},
                        key=lambda p: -max(seconds.get(p, 0) for seconds in kernels))
    columns = [{**seconds, 'outside oneDNN': r.samples[column][-1] - sum(seconds.values()),
                'whole run': r.samples[column][-1]} for seconds, column in zip(kernels, names.values())]
    lines = [f'{r.case + ", last timed run (s)":<44}' + ''.join(f'{name:>10}' for name in names)]
    for primitive in primitives + ['outside oneDNN', 'whole run']:
        lines.append(f'  {primitive:<42}' + ''.join(f'{column.get(primitive, 0.0):>10.3f}' for column in columns))
    return '\n'.join(lines)


def machine():
    model = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name')),
                 platform.processor())
    return f'{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cases', nargs='+', choices=list(BY_NAME), default=[c.name for c in CASES],
                        metavar='CASE', help=f'default: every inference case ({", ".join(c.name for c in CASES)}); '
                                             f'{TRAIN_CASE.name}: seconds per photo2cartoon training step')
    parser.add_argument('--repeat', type=int, default=5, help='timed forwards per framework (default 5)')
    parser.add_argument('--no-pynative', action='store_true', help='skip MindSpore PyNative (faster)')
    parser.add_argument('--kernels', action='store_true',
                        help="also sum each framework's oneDNN kernels over its last timed run (verbose log)")
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker_main(*args.worker)
        return 0
    from tqdm import tqdm
    gemm_worker = WorkerProcess('torch')
    gemm, threads = gemm_worker.ask('gemm')['gflops'], gemm_worker.ask('threads')['threads']
    gemm_worker.close()
    print(f'machine: {machine()}; PyTorch threads {threads}; float32 GEMM {gemm:.1f} GFLOP/s', flush=True)
    results = []
    for name in tqdm(args.cases, desc='cases'):
        try:
            results.append(bench_case(BY_NAME[name], args.repeat, not args.no_pynative and name != TRAIN_CASE.name,
                                      tqdm, args.kernels))
        except WorkerDied as error:  # report it, go on with the other cases
            print(f'{name}: {error}', file=sys.stderr, flush=True)
    print(table(results, gemm))
    if args.json:
        with atomic_outputs([args.json]) as (temp,), open(temp, 'w') as f:
            json.dump({'machine': machine(), 'gemm_gflops': gemm, 'torch_threads': threads,
                       'results': [asdict(r) for r in results]}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
