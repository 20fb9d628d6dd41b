"Scene files: legacy keys, corrupt and malformed files, skipping bad files, and the `rk data generative` command."
import numpy as np
import pytest

from research_kit.core.config import ConfigError
from research_kit.generative.data import (KEYS, SceneFileError, load_dataset, load_scene, make_scene, write_scene)
from research_kit.generative.pipeline import PIPELINE

from conftest import rk


@pytest.fixture(scope='module')
def scene():
    return make_scene(7)


def test_legacy_keys_load_like_new_ones(tmp_path, scene):
    write_scene(tmp_path / 'new.npz', scene)
    legacy = {'robot': scene['robot_image'], 'goal': scene['goal_image'], 'movable': scene['movable_objects_image'],
              'static': scene['static_objects_image'], 'target_object': scene['target_object'][..., None],
              'target_goal': scene['target_goal']}
    np.savez(tmp_path / 'legacy.npz', **legacy)
    new, old = load_scene(tmp_path / 'new.npz'), load_scene(tmp_path / 'legacy.npz')
    for k in KEYS:
        assert old[k].shape == (224, 224) and np.array_equal(new[k], old[k]), k


@pytest.mark.parametrize('damage, message', [
    (lambda d: d.pop('goal_image'), "missing key 'goal_image' (or legacy 'goal')"),
    (lambda d: d.update(static_objects_image=np.zeros((64, 64), np.float32)), "has shape (64, 64), expected (224, 224)"),
    (lambda d: d['target_goal'].__setitem__((3, 4), np.nan), "'target_goal' has 1 non-finite values"),
    (lambda d: d.update(robot_image=np.array(['a'] * 224 * 224).reshape(224, 224)), "expected numbers"),
])
def test_malformed_files_name_file_and_problem(tmp_path, scene, damage, message):
    data = {k: v.copy() for k, v in scene.items()}
    damage(data)
    path = tmp_path / 'bad.npz'
    np.savez(path, **data)
    with pytest.raises(SceneFileError) as e: load_scene(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_truncated_and_garbage_files_are_unreadable(tmp_path, scene):
    good = write_scene(tmp_path / 'good.npz', scene)
    (tmp_path / 'truncated.npz').write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / 'garbage.npz').write_bytes(b'\x00' * 100)
    for name in ['truncated.npz', 'garbage.npz']:
        with pytest.raises(SceneFileError, match=f"{name}: unreadable"): load_scene(tmp_path / name)


def test_skip_bad_skips_and_reports(tmp_path, scene, capsys):
    for i in range(4): write_scene(tmp_path / f'ok_{i}.npz', scene)
    (tmp_path / 'broken.npz').write_bytes(b'nope')
    with pytest.raises(SceneFileError, match='broken.npz'): load_dataset(tmp_path, 16)
    train, val, report = load_dataset(tmp_path, 16, skip_bad=True)
    assert (len(train) + len(val), report['skipped'], report['files']) == (4, 1, 5)
    assert 'skipped 1 bad scene file(s) of 5' in capsys.readouterr().out
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no .npz files'): load_dataset(tmp_path / 'empty', 16)
    with pytest.raises(FileNotFoundError, match='missing does not exist'): load_dataset(tmp_path / 'missing', 16)


def test_seed_overrides_are_accepted():
    cfg = PIPELINE.build_config('smoke', [
        'model.sampler.method=dopri5', 'model.sampler.sampler_type=ddpm', 'model.path.scheduler=cosine',
        'model.path.beta_schedule=linear', 'sampling_steps=20', 'batch_size=128', 'base_lr=5e-5', 'max_epochs=500',
        'data.data_dir=/data/namo', 'ckpt_path=/tmp/last.pt', 'trainer=multi_gpu', 'trainer.devices=4',
        'objective=diffusion', 'model.aux_loss_weight=0.01'])
    assert (cfg.model.sampler.method, cfg.batch_size, cfg.base_lr, cfg.trainer.devices) == ('dopri5', 128, 5e-5, 4)
    with pytest.raises(ConfigError, match='model.path.scheduler'): PIPELINE.build_config(None, ['model.path.scheduler=x'])


def test_rk_data_generative(tmp_path):
    out = tmp_path / 'scenes'
    p = rk(tmp_path / 'runs', 'data', 'generative', '--out', out, '--n', 3, '--seed', 5)
    assert p.returncode == 0, p.stderr
    files = sorted(out.glob('*.npz'))
    assert [f.name for f in files] == ['scene_000000.npz', 'scene_000001.npz', 'scene_000002.npz']
    assert 'scenes' in p.stderr and '3/3' in p.stderr                 # the progress bar
    assert np.array_equal(load_scene(files[1])['target_goal'], make_scene(6)['target_goal'])
