"""Pictures where people would rather look than read: training loss curves and a parity report's errors.

Drawn with matplotlib's object API (no pyplot, no global backend), written atomically as PNG.
"""
import csv
import importlib.util
import logging
import os

from core.errors import UserError
from core.files import atomic_outputs

logger = logging.getLogger(__name__)


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError('plots need matplotlib: pip install matplotlib') from None
    return Figure(figsize=(width, height), layout='constrained')


def _save(figure, path):
    with atomic_outputs([path]) as (temp,):
        figure.savefig(temp, format='png', dpi=100)


class LossHistory:
    """Every loss term at every step, kept as CSV (a resumed run continues it) and drawn as curves."""

    def __init__(self, folder, d_names, g_names):
        self.csv_path = os.path.join(folder, 'losses.csv')
        self.png_path = os.path.join(folder, 'losses.png')
        self.names = ('step', 'd_loss', 'g_loss') + tuple(d_names) + tuple(g_names)
        self.d_names, self.g_names = tuple(d_names), tuple(g_names)
        self.rows = []
        self.plot = importlib.util.find_spec('matplotlib') is not None
        if not self.plot:
            logger.warning('matplotlib is not installed: the losses go to %s only, no plot', self.csv_path)

    def resume(self, step):
        """The rows of an earlier run up to `step` (a run resumed from its checkpoint)."""
        if os.path.exists(self.csv_path):
            with open(self.csv_path, newline='') as f:
                rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
            self.rows = [row for row in rows if row['step'] <= step and set(row) == set(self.names)]

    def add(self, step, d_loss, g_loss, d_terms, g_terms):
        values = (step, d_loss, g_loss) + tuple(d_terms) + tuple(g_terms)
        self.rows.append(dict(zip(self.names, map(float, values))))

    def save(self):
        with atomic_outputs([self.csv_path]) as (temp,):
            with open(temp, 'w', newline='') as f:
                writer = csv.DictWriter(f, fieldnames=self.names)
                writer.writeheader()
                writer.writerows(self.rows)
        if not self.plot:
            return
        figure = _figure(12, 7)
        steps = [row['step'] for row in self.rows]
        for axis, title, names in zip(figure.subplots(2, 1, sharex=True), ('discriminators', 'generators'),
                                      (('d_loss',) + self.d_names, ('g_loss',) + self.g_names)):
            for name in names:
                axis.plot(steps, [row[name] for row in self.rows], label=name,
                          linewidth=2.2 if name in ('d_loss', 'g_loss') else 1.0)
            axis.set_yscale('symlog', linthresh=1e-3)
            axis.set_title(title)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=7, ncol=3, loc='upper right')
        figure.axes[-1].set_xlabel('step')
        _save(figure, self.png_path)


def parity_errors(reports, path):
    """Each report's layers (then outputs; a training step's: its losses, then gradients) in execution
    order: max-abs error against its tolerance, log scale, failing rows red, the first failure marked."""
    figure = _figure(12, 3.2 * len(reports))
    axes = figure.subplots(len(reports), 1, squeeze=False)[:, 0]
    for axis, report in zip(axes, reports):
        rows = report.layers + report.outputs + report.grads
        index = range(len(rows))
        floor = 1e-12  # exact zeros on a log axis
        axis.plot(index, [max(r.tol, floor) for r in rows], color='0.4', drawstyle='steps-mid', label='tolerance')
        axis.scatter([i for i, r in enumerate(rows) if r.ok], [max(r.max_abs, floor) for r in rows if r.ok], s=10,
                     color='tab:blue', label='max abs error')
        bad = [i for i, r in enumerate(rows) if not r.ok]
        if bad:
            axis.scatter(bad, [max(rows[i].max_abs, floor) for i in bad], s=18, color='tab:red', label='over tolerance')
        first = report.first_failure()
        if first in rows:
            at = rows.index(first)
            axis.axvline(at, color='tab:red', linestyle='--', linewidth=1)
            axis.annotate(f'first failure: {first.name}', (at, max(first.max_abs, floor)), xytext=(5, 5),
                          textcoords='offset points', color='tab:red', fontsize=8)
        if report.outputs:
            axis.axvline(len(report.layers) - 0.5, color='0.7', linewidth=0.8)
        axis.set_yscale('log')
        axis.set_xlabel('layer, in execution order (then the model outputs, gradients)')
        axis.set_ylabel('|MindSpore - float64|')
        axis.set_title(f'{report.arch} {report.mode}: {"ok" if report.ok else "FAIL"}', fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc='lower right')
    _save(figure, path)
