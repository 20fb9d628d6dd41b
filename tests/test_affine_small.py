"Seed 002 on a real model: `rk run affine --preset small` on SmolLM2-135M-Instruct end to end (over an hour on 2 CPU cores; not in CI)."
import json

import pytest

from research_kit.affine.environments import SEED_ENVIRONMENTS
from conftest import rk


@pytest.mark.slow
def test_rk_run_affine_small_grades_every_row_and_sft_gains(runs_dir):
    proc = rk(runs_dir, 'run', 'affine', '--preset', 'small', timeout=3 * 3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = next(p for p in runs_dir.iterdir() if p.is_dir())
    results = json.loads((run_dir / 'results.json').read_text())
    assert list(results) == ['base', 'sft', 'rl']
    for stage in results.values():
        rows = stage['per_environment']
        assert set(rows) == {'affine:sat', 'affine:abd', 'affine:ded', *SEED_ENVIRONMENTS}
        assert all(rows[k]['n'] >= 100 for k in ('affine:sat', 'affine:abd', 'affine:ded'))
        assert all(rows[e]['n'] >= 32 and rows[e]['ci_low'] <= rows[e]['mean'] <= rows[e]['ci_high'] for e in SEED_ENVIRONMENTS)
    mean = {s: r['aggregate']['weighted_mean_score'] for s, r in results.items()}
    assert mean['sft'] > mean['base'], mean          # fine-tuning on the verified data and the experts' episodes pays
    assert (run_dir / 'comparison.txt').exists() and (run_dir / 'figures' / 'affine_comparison.png').exists()
