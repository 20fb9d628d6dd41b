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


def test_trainer_grad_clip_override_is_the_clip_used(tmp_path):
    "`trainer.grad_clip` is the one home of the clip: an override bounds every step's gradient; `grad_clip` is refused."
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook
    from research_kit.core.config import ConfigError
    from research_kit.world_model.pipeline import PIPELINE, fit
    cfg = PIPELINE.build_config('smoke', [
        'trainer.grad_clip=0.01', 'epochs=1', 'steps_per_epoch=3', 'data.episodes=5', 'data.steps=14',
        'data.collect_workers=1', 'data.loader_workers=0', 'sequence_length=4', 'open_loop_context=2', 'val_batches=1',
        f'data.data_dir={tmp_path}', 'trainer.progress=false', 'trainer.eval_every=0', 'trainer.ckpt_every=0'])
    norms = []

    def record(optimizer, args, kwargs):                                   # runs after clipping, before the update
        grads = [p.grad.norm() for group in optimizer.param_groups for p in group['params'] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack(grads)).item())

    handle = register_optimizer_step_pre_hook(record)
    try:
        fit(cfg, None)
    finally:
        handle.remove()
    assert len(norms) == 3 and max(abs(n - 0.01) for n in norms) < 1e-5, norms
    with pytest.raises(ConfigError, match='trainer.grad_clip'):
        PIPELINE.build_config('smoke', ['grad_clip=0.01'])
