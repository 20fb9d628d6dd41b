"The `rk` command end to end: refusals, dry runs, folders, papermill runs, listing, comparing, benchmarks."
import json, subprocess, sys, threading
from pathlib import Path

import pytest
import yaml

from conftest import REPO, read_run, rk, rk_env

SMALL = ['max_steps=40', 'trainer.eval_every=20', 'trainer.ckpt_every=20', 'trainer.progress=false']


def test_refused_override_exits_2_names_key_and_creates_nothing(runs_dir):
    for bad, named in (('model.hiden=3', 'model.hidden'), ('lr=fast', 'lr'), ('trainer.mixed_precision=fp8', "'bf16'"),
                       ('trainer=tpu', 'multi_gpu')):
        p = rk(runs_dir, 'run', 'example', '--preset', 'smoke', bad)
        assert p.returncode == 2, (bad, p.stdout, p.stderr)
        assert named in p.stderr, (bad, p.stderr)
        assert 'Traceback' not in p.stderr
    p = rk(runs_dir, 'run', 'example', '--preset', 'tiny')
    assert p.returncode == 2 and 'smoke' in p.stderr
    p = rk(runs_dir, 'run', 'no_such_pipeline')
    assert p.returncode == 2 and 'example' in p.stderr
    assert list(runs_dir.iterdir()) == []


def test_dry_run_prints_resolved_config_and_creates_nothing(runs_dir):
    p = rk(runs_dir, 'run', 'example', '--preset', 'smoke', '--dry-run', 'lr=0.02', 'trainer=multi_gpu', 'trainer.devices=4')
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load(p.stdout)
    assert (cfg['lr'], cfg['trainer']['devices'], cfg['max_steps']) == (0.02, 4, 300)
    assert list(runs_dir.iterdir()) == []


def test_two_runs_started_in_the_same_second_get_different_folders(runs_dir):
    "Start several runs at once (same second); each must get its own folder and finish."
    procs = [subprocess.Popen([sys.executable, '-m', 'research_kit.core.cli', 'run', 'example', '--preset', 'smoke',
                               '--no-notebook', '--name', 'same', *SMALL], cwd=REPO, env=rk_env(runs_dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    folders = [Path(o[0].strip().splitlines()[-1]) for o in outs]
    assert len(set(folders)) == 3
    assert all(read_run(f)['status'] == 'finished' for f in folders)
    assert len({f.name.split('-same')[0] for f in folders}) <= 2   # they really did start within a second or two


def test_papermill_run_leaves_a_complete_run_folder(runs_dir):
    p = rk(runs_dir, 'run', 'example', '--preset', 'smoke', '--name', 'nb')
    assert p.returncode == 0, p.stderr[-3000:]
    run = Path(p.stdout.strip().splitlines()[-1])
    assert run.parent == runs_dir and run.name.endswith('-nb')
    names = {q.name for q in run.iterdir()}
    assert {'config.yaml', 'env.json', 'run.json', 'example.ipynb', 'metrics.jsonl', 'tensorboard', 'checkpoints',
            'figures'} <= names
    info = read_run(run)
    assert info['status'] == 'finished' and info['metrics']['val_acc'] > 0.8
    assert (run / 'checkpoints' / 'last.pt').exists() and (run / 'checkpoints' / 'best.pt').exists()
    assert list((run / 'tensorboard').glob('events.out.tfevents.*'))
    assert (run / 'figures' / 'decision_regions.png').exists() and (run / 'figures' / 'loss.png').exists()
    env = json.loads((run / 'env.json').read_text())
    assert env['seed'] == 0 and env['packages']['torch'] and 'commit' in env['git']
    nb = json.loads((run / 'example.ipynb').read_text())
    injected = [c for c in nb['cells'] if 'injected-parameters' in c.get('metadata', {}).get('tags', [])]
    assert injected and str(run) in ''.join(injected[0]['source'])

    listed = rk(runs_dir, 'runs')
    assert run.name in listed.stdout and 'finished' in listed.stdout

    # resuming a finished run continues from last.pt: no step is redone, the status stays finished
    steps_before = [m['step'] for m in map(json.loads, (run / 'metrics.jsonl').read_text().splitlines())]
    again = rk(runs_dir, 'resume', run)
    assert again.returncode == 0, again.stderr[-3000:]
    assert read_run(run)['status'] == 'finished'
    assert (run / 'example.attempt1.ipynb').exists()
    steps_after = [m['step'] for m in map(json.loads, (run / 'metrics.jsonl').read_text().splitlines())]
    assert steps_after == steps_before


def test_compare_plots_runs_together(runs_dir, tmp_path):
    folders = []
    for lr in ('0.01', '0.003'):
        p = rk(runs_dir, 'run', 'example', '--preset', 'smoke', '--no-notebook', f'lr={lr}', *SMALL)
        assert p.returncode == 0, p.stderr[-2000:]
        folders.append(p.stdout.strip().splitlines()[-1])
    out = tmp_path / 'cmp.png'
    p = rk(runs_dir, 'compare', *folders, '--metric', 'val_loss', '--metric', 'train_loss', '--out', out)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size > 10_000
    p = rk(runs_dir, 'compare', Path(folders[0]).name, '--metric', 'nope')
    assert p.returncode == 2 and 'nope' in p.stderr
    p = rk(runs_dir, 'compare', 'missing-run')
    assert p.returncode == 2 and 'missing-run' in p.stderr


def test_failed_run_is_recorded_as_failed(runs_dir):
    "A NaN loss stops the run with a clear message; the run is marked failed and keeps its last good checkpoint."
    p = rk(runs_dir, 'run', 'example', '--preset', 'smoke', '--no-notebook', 'lr=1e30', 'warmup_steps=1',
           'trainer.grad_clip=0', 'trainer.ckpt_every=1', 'trainer.progress=false')
    assert p.returncode == 1
    run = Path(p.stdout.strip().splitlines()[-1])
    info = read_run(run)
    assert info['status'] == 'failed' and 'not finite' in info['error'], info
    if (run / 'checkpoints' / 'last.pt').exists():
        import torch
        state = torch.load(run / 'checkpoints' / 'last.pt', weights_only=False)
        assert all(torch.isfinite(v).all() for v in state['model'].values())


def test_benchmark_writes_results(runs_dir):
    p = rk(runs_dir, 'bench', 'example', '--preset', 'smoke', 'steps=30', 'repeats=1')
    assert p.returncode == 0, p.stderr[-3000:]
    run = Path(p.stdout.strip().splitlines()[-1])
    results = json.loads((run / 'results.json').read_text())
    assert results['trainer_over_plain'] > 0 and results['plain_steps_per_s'] > 0
    assert (run / 'figures' / 'throughput.png').exists()
    assert read_run(run)['pipeline'] == 'bench:example'


def test_plain_papermill_runs_the_experiment(runs_dir, tmp_path):
    out = tmp_path / 'out.ipynb'
    p = subprocess.run([sys.executable, '-m', 'papermill', 'nbs/experiments/example.ipynb', str(out), '-p', 'preset', 'smoke',
                        '-y', 'overrides: [max_steps=60, trainer.eval_every=30, trainer.ckpt_every=30]', '--no-progress-bar'],
                       cwd=REPO, env=rk_env(runs_dir), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    (run,) = [d for d in runs_dir.iterdir() if d.is_dir()]
    info = read_run(run)
    assert info['status'] == 'finished' and info['overrides'][0] == 'max_steps=60' and info['metrics']['steps'] == 60


def test_data_command(runs_dir, tmp_path):
    p = rk(runs_dir, 'data', 'example', '--out', tmp_path / 's.npz', '--n', 50)
    assert p.returncode == 0, p.stderr
    import numpy as np
    assert np.load(tmp_path / 's.npz')['x'].shape == (50, 2)


def test_sigterm_marks_the_run_interrupted_and_resume_finishes_it(runs_dir):
    import os, signal, time
    proc = subprocess.Popen([sys.executable, '-m', 'research_kit.core.cli', 'run', 'example', '--preset', 'smoke',
                             '--no-notebook', '--name', 'term', 'max_steps=100000', 'trainer.ckpt_every=20',
                             'trainer.progress=false'], cwd=REPO, env=rk_env(runs_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs_dir.glob('*-term/checkpoints/last.pt')): time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    run = Path(out.strip().splitlines()[-1])
    assert read_run(run)['status'] == 'interrupted'
    assert 'interrupted' in rk(runs_dir, 'runs').stdout


def test_plot_runs_shows_its_figure_once_in_a_notebook_cell(tmp_path):
    from execnb.shell import CaptureShell
    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'metrics.jsonl').write_text(''.join(json.dumps({'step': s, 'train_loss': 1 / s}) + '\n' for s in range(1, 9)))
    outputs = CaptureShell().run('%matplotlib inline\nfrom research_kit.core.widgets import plot_runs\n'
                                 f'plot_runs([{str(tmp_path / "a")!r}, {str(tmp_path / "b")!r}])')
    assert sum('image/png' in o.get('data', {}) for o in outputs) == 1, outputs
