"""Continuing generative training: `ckpt_path=...` picks up a checkpoint's step, weights, optimizer and random
state, so two epochs in two sittings end where two epochs in one sitting do; and `rk resume` of a finished
run adds nothing."""
import pytest
import torch

from research_kit.core.checkpoints import load_checkpoint
from research_kit.core.runs import Run
from research_kit.generative.data import generate_dataset
from research_kit.generative.pipeline import PIPELINE
from research_kit.generative.train import fit

TINY = ['image_size=16', 'batch_size=8', 'base_lr=1e-3', 'eval_scenes=2', 'eval_samples=1', 'sampling_steps=2',
        'threads=1', 'data.train_split=0.75', 'model.network.dim=32', 'model.network.depth=1',
        'model.network.heads=2', 'trainer.progress=false', 'trainer.log_every=1']


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp('scenes'), 24, seed=100, progress=False)


def _train(name, scenes, *overrides):
    cfg = PIPELINE.build_config(None, [*TINY, f'data.data_dir={scenes}', *overrides])
    run = Run.create('generative', cfg, name=name, overrides=overrides)
    result = fit(cfg, run)
    return result, load_checkpoint(run.checkpoints / 'last.pt')


@pytest.mark.parametrize('objective', ['flow_matching', 'diffusion'])
def test_ckpt_path_continues_step_and_weights(runs_dir, scenes, objective):
    # 18 training scenes in batches of 8: 2 steps per epoch
    straight, straight_ckpt = _train('straight', scenes, f'objective={objective}', 'max_epochs=2')
    first, first_ckpt = _train('first', scenes, f'objective={objective}', 'max_epochs=1')
    assert first['steps'] == 2 and first_ckpt['step'] == 2
    ckpt = next(runs_dir.glob('*-first')) / 'checkpoints' / 'last.pt'
    cont, cont_ckpt = _train('continued', scenes, f'objective={objective}', 'max_epochs=2', f'ckpt_path={ckpt}')
    assert cont['steps'] == straight['steps'] == 4 and cont_ckpt['step'] == 4
    moved = [not torch.equal(first_ckpt['model'][k], cont_ckpt['model'][k]) for k in cont_ckpt['model']]
    assert any(moved)                                              # it trained on from the checkpoint...
    for k, v in straight_ckpt['model'].items():                    # ...exactly as if it had never stopped
        torch.testing.assert_close(cont_ckpt['model'][k], v, rtol=1e-5, atol=1e-6, msg=k)


def test_missing_ckpt_path_is_named(runs_dir, scenes, tmp_path):
    cfg = PIPELINE.build_config(None, [*TINY, f'data.data_dir={scenes}', 'max_epochs=1',
                                       f'ckpt_path={tmp_path / "nope.pt"}'])
    with pytest.raises(Exception, match='nope.pt'):
        fit(cfg, Run.create('generative', cfg, name='missing'))
