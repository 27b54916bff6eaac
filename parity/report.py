"""Printing a parity report: the table, the one-line verdict, JSON."""
import json

from core.files import atomic_outputs


def _shape(shape):
    return 'x'.join(map(str, shape)) or 'scalar'


def _status(row):
    if not row.ok:
        return 'FAIL'
    return 'noise' if row.noise_only else 'ok'


def table(report):
    """Every compared tensor in order: weights summary, layers, model outputs, buffers, gradients."""
    first = report.first_failure()
    lines = [f'{report.arch} ({_config(report)}), {report.source}, input {_shape(report.input_shape)}, '
             f'{report.mode} mode', _weights_line(report)]
    for key, ms_name, why in report.weights.differing:
        lines.append(f'  weight differs: {key} -> {ms_name}: {why}')
    for key in report.weights.torch_only:
        lines.append(f'  torch only (no MindSpore partner): {key}')
    for name in report.weights.ms_only:
        lines.append(f'  MindSpore only (no torch partner): {name}')
    header = f'{"layer":58s} {"shape":>18s} {"max abs":>9s} {"rel err":>9s} {"cosine":>9s} {"ref32":>9s} ' \
             f'{"tol":>9s}  status'
    for title, rows in [('layers (execution order)', report.layers), ('model outputs', report.outputs),
                        ('buffers after the forward', report.buffers), ('gradients', report.grads),
                        ('for information only (not judged)', report.unjudged)]:
        if not rows:
            continue
        lines += ['', title, header]
        for row in rows:
            mark = '  <-- first mismatch' if row is first else ''
            lines.append(f'{row.name[-58:]:58s} {_shape(row.shape):>18s} {row.max_abs:9.2e} {row.rel_err:9.2e} '
                         f'{row.cosine:9.6f} {row.ref_err:9.2e} {row.tol:9.2e}  {_status(row)}{mark}')
    for name in report.missing_layers:
        lines.append(f'missing in MindSpore: {name}')
    for name in report.ms_only_layers:
        lines.append(f'only in MindSpore (no torch twin): {name}')
    lines += ['', verdict(report)]
    return '\n'.join(lines)


def _config(report):
    return ', '.join(f'{k}={v}' for k, v in report.config.items())


def _weights_line(report):
    weights = report.weights
    return (f'weights: {weights.paired} paired, {len(weights.differing)} differ, '
            f'{len(weights.torch_only) + len(weights.ms_only)} without a partner')


def verdict(report):
    rows = report.layers + report.outputs + report.buffers + report.grads
    parts = [f'{len(report.layers)} layers', f'{len(report.outputs)} outputs']
    parts += [f'{len(report.buffers)} buffers'] if report.buffers else []
    parts += [f'{len(report.grads)} gradients'] if report.grads else []
    subject = f'{report.arch} {report.mode}{" +grad" if report.grads else ""}'
    if report.ok:
        worst = max(rows, key=lambda row: row.rel_err / row.tol)
        return (f'OK    {subject}: {", ".join(parts)} within tolerance, weights equal '
                f'(closest to its bound: {worst.name}, {worst.rel_err / worst.tol:.2f} of tol)')
    problems = []
    first = report.first_failure()
    if first is not None:
        problems.append(f'first mismatch at {first.name}: rel err {first.rel_err:.3g} > tol {first.tol:.3g} '
                        f'(cosine {first.cosine:.6f})')
    if report.missing_layers:
        problems.append(f'layers missing in MindSpore, first {report.missing_layers[0]}')
    if report.ms_only_layers:
        problems.append(f'layers only in MindSpore, first {report.ms_only_layers[0]}')
    if not report.weights.ok:
        problems.append(_weights_line(report))
    return f'FAIL  {subject}: ' + '; '.join(problems)


def to_json(reports, path):
    with atomic_outputs([path]) as (temp,):
        with open(temp, 'w') as f:
            json.dump([r.to_dict() for r in reports], f, indent=1, default=float)
