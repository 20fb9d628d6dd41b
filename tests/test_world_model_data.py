"World-model data: collection into HDF5, the dataset's split and windows, DataLoader workers, and hostile files."
import shutil

import h5py
import numpy as np
import pytest
import torch

from research_kit.world_model.collect import collect
from research_kit.world_model.dataset import DMCVBDataError, DMCVBDataset

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp('wm_data')
    collect('cheetah-run', 7, d, steps=12, workers=2, seed=3, progress=False)
    return d


def copy_file(data_dir, tmp_path):
    shutil.copy(data_dir / 'cheetah-run.h5', tmp_path / 'cheetah-run.h5')
    return tmp_path / 'cheetah-run.h5'


def test_file_layout_and_metadata(data_dir):
    with h5py.File(data_dir / 'cheetah-run.h5') as f:
        assert f['observations'].shape == (84, 64, 64, 3) and f['observations'].dtype == np.uint8
        assert f['actions'].dtype == np.float32 and f['actions'].shape == (84, 6)
        assert f['rewards'].dtype == np.float32 and f['dones'].dtype == bool
        assert f['episode_starts'][:].tolist() == list(range(0, 84, 12))
        assert np.flatnonzero(f['dones'][:]).tolist() == list(range(11, 84, 12))
        assert {'random', 'scripted', 'mixed'} == {p.decode() for p in f['episode_policies'][:]}
        for key in ('environment', 'domain', 'task', 'action_dim', 'image_size', 'action_repeat', 'num_episodes', 'created'):
            assert key in f.attrs, key
        assert np.abs(f['actions'][:]).max() <= 1.0
    assert [p.name for p in data_dir.iterdir()] == ['cheetah-run.h5']        # no temporary leftovers


def test_split_is_by_episode_fixed_and_disjoint(data_dir):
    tr = DMCVBDataset(data_dir, 5, 'cheetah-run', split='train', val_fraction=0.3, seed=1)
    va = DMCVBDataset(data_dir, 5, 'cheetah-run', split='val', val_fraction=0.3, seed=1)
    assert set(tr.episodes).isdisjoint(va.episodes) and len(tr.episodes) + len(va.episodes) == 7
    assert DMCVBDataset(data_dir, 5, 'cheetah-run', split='val', val_fraction=0.3, seed=1).episodes.tolist() == va.episodes.tolist()
    other = DMCVBDataset(data_dir, 5, 'cheetah-run', split='val', val_fraction=0.3, seed=2)
    assert len(other.episodes) == len(va.episodes)


def test_windows_never_cross_an_episode_end(data_dir):
    ds = DMCVBDataset(data_dir, 6, 'cheetah-run', split='all')
    assert len(ds) == 7 * (12 - 6 + 1)
    ends = set(range(11, 84, 12))
    for s in ds.window_starts:
        assert not ends & set(range(int(s), int(s) + 5)), f'window at {s} crosses an episode end'
    item = ds[len(ds) - 1]
    assert item['dones'].tolist() == [0, 0, 0, 0, 0, 1]
    assert item['observations'].shape == (6, 3, 64, 64) and item['observations'].dtype == torch.float32
    assert -1 <= item['observations'].min() < item['observations'].max() <= 1


def test_dataloader_with_workers_matches_the_dataset(data_dir):
    ds = DMCVBDataset(data_dir, 4, 'cheetah-run', split='train')
    loader = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=False, num_workers=2)
    batches = list(loader)
    assert sum(len(b['actions']) for b in batches) == len(ds)
    torch.testing.assert_close(batches[0]['observations'][3], ds[3]['observations'])
    torch.testing.assert_close(batches[-1]['actions'][-1], ds[len(ds) - 1]['actions'])


@pytest.mark.parametrize('damage, message', [
    ('truncate', 'not a readable HDF5 file'),
    ('garbage', 'not a readable HDF5 file'),
    ('drop_actions', "missing key(s) ['actions']"),
    ('short_rewards', "'rewards' has 80 rows"),
    ('bad_boundaries', 'episode boundaries'),
    ('bad_dtype', "'observations' must be [N,H,W,3] uint8"),
    ('wrong_format', "attribute 'format'"),
])
def test_hostile_files_name_the_file_and_the_problem(data_dir, tmp_path, damage, message):
    path = copy_file(data_dir, tmp_path)
    if damage == 'truncate': path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    elif damage == 'garbage': path.write_bytes(b'not hdf5 at all' * 100)
    else:
        with h5py.File(path, 'a') as f:
            if damage == 'drop_actions': del f['actions']
            elif damage == 'short_rewards': r = f['rewards'][:80]; del f['rewards']; f['rewards'] = r
            elif damage == 'bad_boundaries': f['episode_lengths'][0] = 5
            elif damage == 'bad_dtype': o = f['observations'][:].astype(np.float32); del f['observations']; f['observations'] = o
            elif damage == 'wrong_format': f.attrs['format'] = 'something else'
    with pytest.raises(DMCVBDataError) as e:
        DMCVBDataset(tmp_path, 4, 'cheetah-run')
    assert str(path) in str(e.value) and message in str(e.value), str(e.value)


def test_unknown_or_absent_environment(data_dir, tmp_path):
    with pytest.raises(DMCVBDataError, match='unknown environment'): DMCVBDataset(data_dir, 4, 'cheetah-fly')
    with pytest.raises(DMCVBDataError, match="no data for environment 'walker-walk'.*cheetah-run"): DMCVBDataset(data_dir, 4, 'walker-walk')
    path = copy_file(data_dir, tmp_path)
    with pytest.raises(DMCVBDataError, match="holds environment 'cheetah-run', not 'walker-walk'"): DMCVBDataset(path, 4, 'walker-walk')
    with pytest.raises(DMCVBDataError, match='no such file'): DMCVBDataset(tmp_path / 'nothing', 4, 'cheetah-run')


def test_rk_data_command_writes_the_file(tmp_path):
    from research_kit.world_model.pipeline import data_main
    data_main(['--env', 'walker_walk,humanoid-walk', '--episodes', '2', '--steps', '5', '--workers', '2', '--policy', 'mixed',
               '--out', str(tmp_path)])
    with h5py.File(tmp_path / 'walker-walk.h5') as f: assert f.attrs['policy'] == 'mixed' and f['observations'].shape == (10, 64, 64, 3)
    with h5py.File(tmp_path / 'humanoid-walk.h5') as f: assert f['actions'].shape == (10, 21)
    with pytest.raises(SystemExit): data_main(['--env', 'cheetah-fly', '--out', str(tmp_path)])
