"""The example trainer under `torchrun --nproc_per_node 2` (gloo on CPU) follows one process with the same global
batch: each process takes half of every global batch and DDP averages the gradients."""
import json, subprocess, sys
from pathlib import Path

import pytest

from conftest import REPO, read_run, rk, rk_env

CONFIG = ['--preset', 'smoke', 'max_steps=200', 'trainer.progress=false', 'batch_size=128']


def _losses(run):
    rows = [json.loads(l) for l in (Path(run) / 'metrics.jsonl').read_text().splitlines()]
    return {r['step']: r for r in rows}


def test_torchrun_two_processes_matches_one(runs_dir):
    one = rk(runs_dir, 'run', 'example', '--no-notebook', '--name', 'one', *CONFIG)
    assert one.returncode == 0, one.stderr[-2000:]
    two = rk(runs_dir, 'run', 'example', '--no-notebook', '--nproc', '2', '--name', 'two', *CONFIG)
    assert two.returncode == 0, two.stderr[-3000:]
    run_one, run_two = (Path(p.stdout.strip().splitlines()[-1]) for p in (one, two))

    info_one, info_two = read_run(run_one), read_run(run_two)
    assert info_two['status'] == 'finished' and info_two['attempts'] == 1
    assert info_two['metrics']['steps'] == 200
    assert info_two['metrics']['val_loss'] == pytest.approx(info_one['metrics']['val_loss'], rel=1e-3)
    assert info_two['metrics']['val_acc'] == pytest.approx(info_one['metrics']['val_acc'], abs=2 / 512)
    a, b = _losses(run_one), _losses(run_two)
    assert a.keys() == b.keys()                               # rank 0 alone wrote the records, once per step
    for step in a:
        for k in ('train_loss', 'val_loss'):
            if k in a[step]: assert b[step][k] == pytest.approx(a[step][k], rel=2e-3, abs=1e-5), (step, k)
