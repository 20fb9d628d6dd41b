"""Every numeric field of every pipeline's and benchmark's config declares its valid range, and a value outside it is
refused before anything is created: by `build_config`, `rk run`, `rk bench`, `--dry-run`, papermill and the module
command lines, naming the key, the value and the valid range."""
import math, re, subprocess, sys, types, typing
from dataclasses import fields, is_dataclass
from typing import get_args, get_origin

import pytest

from conftest import REPO, rk, rk_env
from research_kit.core.config import ConfigError, field_range
from research_kit.core.pipelines import benchmark_names, get_benchmark, get_pipeline, pipeline_names

CONFIGS = [(name, get_pipeline(name)) for name in pipeline_names()] + [(f"bench:{n}", get_benchmark(n)) for n in benchmark_names()]


def _numeric(tp) -> type | None:
    "int or float when `tp` is one (possibly inside `X | None`, `list[X]` or `tuple[X, ...]`), else None."
    if tp in (int, float): return tp
    if get_origin(tp) in (typing.Union, list, tuple, types.UnionType):
        for arg in get_args(tp):
            if (found := _numeric(arg)): return found
    return None


def leaves(cfg, prefix=''):
    "(dotted key, owning class, field name, numeric type, current value) of every numeric leaf of `cfg`."
    hints = typing.get_type_hints(type(cfg))
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if is_dataclass(value): yield from leaves(value, f'{prefix}{f.name}.')
        elif (kind := _numeric(hints[f.name])): yield f'{prefix}{f.name}', type(cfg), f.name, kind, value


def bad_values(r, kind):
    "Values just outside range `r` (and a non-finite one for floats)."
    step = 1 if kind is int else 0.5
    candidates = [r.ge - step if r.ge is not None else None, r.gt, r.le + step if r.le is not None else None, r.lt]
    if r.multiple_of: candidates.append((r.ge or r.gt or 0) + 1)
    if kind is float: candidates.append(math.inf)
    return [kind(c) if c is not None and math.isfinite(c) else c for c in candidates if c is not None and not r.accepts(c)]


def _text(value, current):
    return f'[{value}]' if isinstance(current, (list, tuple)) else str(value)


@pytest.mark.parametrize('name,pipe', CONFIGS, ids=[n for n, _ in CONFIGS])
def test_every_numeric_field_declares_a_range(name, pipe):
    missing = [key for key, cls, field_name, _, _ in leaves(pipe.config()) if field_range(cls, field_name) is None]
    assert not missing, f'{name}: numeric fields without a declared range: {missing}'


@pytest.mark.parametrize('name,pipe', CONFIGS, ids=[n for n, _ in CONFIGS])
def test_a_value_outside_each_range_is_refused_naming_key_value_and_range(name, pipe):
    tried = 0
    for preset in ['default', *pipe.presets]:
        pipe.build_config(preset)                                  # every preset itself is valid
    for key, cls, field_name, kind, current in leaves(pipe.config()):
        r = field_range(cls, field_name)
        if r is None: continue
        for bad in bad_values(r, kind):
            with pytest.raises(ConfigError) as e: pipe.build_config(None, [f'{key}={_text(bad, current)}'])
            message = str(e.value)
            assert key in message and str(r) in message and repr(bad).strip("'") in message, (key, bad, message)
            tried += 1
    assert tried >= len(list(leaves(pipe.config()))), tried


CROSS_FIELD = [('generative', ['image_size=63'], 'image_size: 63 is not a multiple of model.network.patch=4'),
               ('generative', ['model.network.dim=100', 'model.network.heads=8'], 'model.network.dim: 100 does not split over heads=8'),
               ('generative', ['model.network.embed_kernel=5'], 'model.network.embed_kernel: 5 must be 0 or patch=4'),
               ('generative', ['model.path.beta_start=0.5', 'model.path.beta_end=0.1'], 'model.path.beta_start: 0.5 is not below'),
               ('example', ['batch_size=250', 'trainer.devices=4'], 'batch_size: 250 does not split over trainer.devices=4'),
               ('frameworks', ['player.image_size=100'], 'player.image_size: 100 is not a multiple of patch_size=14'),
               ('frameworks', ['weights={near_gold_qa: -1}'], 'weights.near_gold_qa: -1 is not a sampling weight'),
               ('frameworks', ['batch_size=4'], 'batch_size: 4 is smaller than the 5 chunks position_qa splits a batch into'),
               ('bench:frameworks', ['step_batch=3'], 'step_batch: 3 is smaller than the 5 chunks'),
               ('world_model', ['open_loop_context=16'], 'open_loop_context: 16 leaves no frame to predict in sequence_length=16'),
               ('world_model', ['data.steps=10'], 'sequence_length: 16 is longer than an episode (data.steps=10)')]


@pytest.mark.parametrize('name,overrides,says', CROSS_FIELD)
def test_cross_field_rules(name, overrides, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        get_pipeline(name).build_config(None, overrides)


def test_a_batch_only_the_trained_frameworks_need_is_accepted():
    cfg = get_pipeline('frameworks').build_config(None, ['batch_size=4', 'eval_all=false', 'only=[near_gold_qa]'])
    assert cfg.batch_size == 4


def test_several_bad_values_are_reported_together():
    with pytest.raises(ConfigError) as e:
        get_pipeline('generative').build_config(None, ['batch_size=0', 'base_lr=-1', 'image_size=63', 'max_epochs=-5', 'sampling_steps=0'])
    for part in ('5 invalid values', 'batch_size=0', 'base_lr=-1.0', 'max_epochs=-5', 'sampling_steps=0', 'image_size: 63'):
        assert part in str(e.value), str(e.value)


@pytest.mark.parametrize('args,says', [
    (['run', 'example', '--preset', 'smoke', 'batch_size=0'], 'batch_size=0 is out of range: valid values are >= 1'),
    (['run', 'example', '--preset', 'smoke', 'max_steps=-3'], 'max_steps=-3 is out of range'),
    (['run', 'generative', '--dry-run', 'batch_size=0', 'base_lr=-1', 'image_size=63', 'max_epochs=-5', 'sampling_steps=0'], '5 invalid values'),
    (['run', 'world_model', '--dry-run', 'sequence_length=0', 'batch_size=-1'], 'sequence_length=0'),
    (['bench', 'example', '--preset', 'smoke', 'repeats=0'], 'repeats=0 is out of range'),
    (['run', 'affine', '--preset', 'smoke', 'ppo.gamma=1.5'], 'ppo.gamma=1.5 is out of range: valid values are in [0, 1]'),
    (['data', 'example', '--n', '0'], 'argument --n: 0 is out of range: valid values are >= 1'),
    (['run', 'example', '--nproc', '0'], 'argument --nproc: 0 is out of range: valid values are >= 1'),
])
def test_rk_exits_2_and_creates_nothing(runs_dir, args, says):
    p = rk(runs_dir, *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert says in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert list(runs_dir.iterdir()) == []


@pytest.mark.parametrize('module,args,says', [
    ('research_kit.agents.pipeline', ['--preset', 'smoke', 'sft.batch_size=0'], 'sft.batch_size=0 is out of range'),
    ('research_kit.agents.rl', ['--updates', '0'], 'argument --updates: 0 is out of range'),
    ('research_kit.agents.rl', ['--min_reward', '1.5'], 'argument --min_reward: 1.5 is out of range: valid values are in [0, 1]'),
    ('research_kit.agents.evaluation', ['--n', '-2'], 'argument --n: -2 is out of range'),
])
def test_module_command_lines_exit_2(runs_dir, module, args, says):
    p = subprocess.run([sys.executable, '-m', module, *args], cwd=REPO, env=rk_env(runs_dir), capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, (p.stdout, p.stderr[-2000:])
    assert says in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert list(runs_dir.iterdir()) == []


def test_agent_rl_yaml_values_get_the_same_checks(runs_dir, tmp_path):
    (tmp_path / 'rl.yaml').write_text('correctness_weight: 3.0\n')
    (tmp_path / 'a.traj.json').write_text('{}')
    p = subprocess.run([sys.executable, '-m', 'research_kit.agents.rl', '--config', str(tmp_path / 'rl.yaml'),
                        '--trajectory_glob', str(tmp_path / '*.traj.json')],
                       cwd=REPO, env=rk_env(runs_dir), capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and 'rl.yaml' in p.stderr and 'correctness_weight=3.0' in p.stderr, p.stderr[-2000:]


def test_papermill_run_with_a_bad_value_creates_no_run_folder(runs_dir, tmp_path):
    out = tmp_path / 'out.ipynb'
    p = subprocess.run([sys.executable, '-m', 'papermill', 'nbs/experiments/example.ipynb', str(out), '-p', 'preset', 'smoke',
                        '-y', 'overrides: [batch_size=0]', '--no-progress-bar'],
                       cwd=REPO, env=rk_env(runs_dir), capture_output=True, text=True, timeout=600)
    assert p.returncode != 0
    assert 'batch_size=0 is out of range: valid values are >= 1' in p.stdout + p.stderr
    assert list(runs_dir.iterdir()) == []
