"Frameworks pipeline: training with LoRA, resume, config errors and the smoke run end to end."
import json

import pytest
import torch

from research_kit.core.config import ConfigError, build_config, set_key
from research_kit.core.runs import Run
from research_kit.frameworks.training import FrameworksConfig, SMOKE, fit, framework_weights
from research_kit.frameworks.general import FRAMEWORKS
from conftest import rk


def small_cfg(*extra):
    return build_config(FrameworksConfig, {'smoke': SMOKE}, 'smoke',
                        ['trainer.cpu=true', 'trainer.progress=false', 'batch_size=5', 'max_steps=3', 'eval_batches=1',
                         'trainer.log_every=1', 'trainer.eval_every=0', 'trainer.ckpt_every=3', 'eval_all=false',
                         'cpu_threads=1', *extra])


def test_fit_with_lora_then_resume(tmp_path):
    threads = torch.get_num_threads()
    try:
        cfg = small_cfg('player.lora=true', 'only=[control,gold_direction_qa]')
        run = Run.create('frameworks', cfg, root=tmp_path)
        out = fit(cfg, run)
        assert out['steps'] == 3 and out['eval_qa_acc'] is not None
        state = torch.load(run.checkpoints / 'last.pt', weights_only=False)
        assert any('lora_' in k for k in state['model'])
        logged = [r for r in run.metrics() if 'train_loss' in r]
        assert [r['step'] for r in logged] == [1, 2, 3]
        assert all(any(k.startswith('loss_') for k in r) for r in logged)
        out = fit(set_key(cfg, 'max_steps', 5), run)            # resumes from step 3
        assert out['steps'] == 5
        assert [r['step'] for r in run.metrics() if 'train_loss' in r] == [1, 2, 3, 4, 5]
        rows = json.loads((run.dir / 'eval.json').read_text())
        assert {r['framework'] for r in rows} == {'control', 'gold_direction_qa'}
    finally:
        torch.set_num_threads(threads)


def test_unknown_framework_names_the_key():
    with pytest.raises(ConfigError, match='weights'): framework_weights(FrameworksConfig(weights={'contorl': 1}))
    with pytest.raises(ConfigError, match='only'): framework_weights(FrameworksConfig(only=['zom']))
    with pytest.raises(ConfigError, match='no framework'): framework_weights(FrameworksConfig(weights={n: 0 for n in FRAMEWORKS}))


@pytest.mark.slow
def test_rk_run_smoke_evaluates_every_framework(runs_dir):
    proc = rk(runs_dir, 'run', 'frameworks', '--preset', 'smoke', timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = next(p for p in runs_dir.iterdir() if p.is_dir())
    rows = json.loads((run_dir / 'eval.json').read_text())
    assert {r['framework'] for r in rows} == set(FRAMEWORKS)
    assert (run_dir / 'figures' / 'demos.png').exists() and (run_dir / 'player' / 'player.pt').exists()
