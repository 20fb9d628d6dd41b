"The world-model pipeline end to end through `rk` (slow: collects data and trains the smoke preset)."
import json
from pathlib import Path

import pytest

from conftest import read_run, rk


def test_refused_override_names_the_key(runs_dir):
    p = rk(runs_dir, 'run', 'world_model', '--preset', 'smoke', 'balancing=mgda')
    assert p.returncode == 2 and 'balancing' in p.stderr and 'rgb' in p.stderr
    assert list(runs_dir.iterdir()) == []


@pytest.mark.slow
def test_smoke_run_collects_trains_and_psnr_rises(runs_dir):
    p = rk(runs_dir, 'run', 'world_model', '--preset', 'smoke', '--no-notebook', timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    run = Path(p.stdout.strip().splitlines()[-1])
    info = read_run(run)
    assert info['status'] == 'finished'
    m = info['metrics']
    assert m['val_psnr'] > m['initial_val_psnr'] + 1.0, m
    assert (run / 'data' / 'cheetah-run.h5').exists() and (run / 'checkpoints' / 'best.pt').exists()
    assert (run / 'figures' / 'episode.png').exists()
    rows = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert any('grad_cos/elbo-perceiver' in r for r in rows) and any('effective_components' in r for r in rows)
