"""Every pipeline's `fit(cfg, run=None)` (the notebook / library use, no run folder) trains at its smallest size and
returns its headline metrics, leaving nothing in the runs folder."""
import math

import pytest

from research_kit.core.pipelines import get_pipeline, pipeline_names

QUIET = ['trainer.progress=false']
SMALLEST = {
    'example': ['max_steps=20', 'trainer.eval_every=10', 'trainer.ckpt_every=10', *QUIET],
    'generative': ['max_epochs=1', 'data.n_scenes=48', 'batch_size=16', 'eval_scenes=4', 'eval_samples=1', 'sampling_steps=2', *QUIET],
    'world_model': ['data.episodes=4', 'data.steps=24', 'data.collect_workers=1', 'epochs=1', 'steps_per_epoch=2', 'val_batches=1',
                    'sequence_length=6', 'batch_size=2', *QUIET],
    'frameworks': ['max_steps=2', 'batch_size=5', 'eval_batches=1', 'trainer.eval_every=2', 'trainer.ckpt_every=2', *QUIET],
    'affine': ['samples=6', 'eval_tasks=2', 'sft_episodes=2', 'eval_episodes=2', 'max_new_tokens=8', 'ppo.updates=1', 'ppo.num_envs=2',
               'ppo.max_turns=2', 'ppo.minibatches=1', 'ppo.ppo_epochs=1', *QUIET],
    'agents': ['n_train=2', 'n_eval=1', 'eval_max_new_tokens=8', 'rl.updates=1', 'rl.tasks_per_update=3', 'rl.ppo.max_new_tokens=8',
               'rl.ppo.minibatches=1', 'rl.ppo.ppo_epochs=1', 'max_steps=3', 'rl.max_steps=3'],
}


def test_every_pipeline_has_a_smallest_size():
    assert sorted(SMALLEST) == pipeline_names()


@pytest.mark.parametrize('name', sorted(SMALLEST))
def test_fit_with_no_run(name, runs_dir, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    pipe = get_pipeline(name)
    cfg = pipe.build_config('smoke', SMALLEST[name])
    metrics = pipe.fit(cfg, None)
    assert isinstance(metrics, dict) and metrics, metrics
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numbers and all(math.isfinite(v) for v in numbers.values()), metrics
    assert list(runs_dir.iterdir()) == []
