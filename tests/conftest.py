"Shared helpers for the cross-cutting suites: run `rk` in a subprocess against a temporary runs folder."
import json, os, subprocess, sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    "A fresh runs folder; `rk` subprocesses and in-process calls both use it."
    d = tmp_path / 'runs'
    d.mkdir()
    monkeypatch.setenv('RK_RUNS_DIR', str(d))
    return d


def rk_env(runs_dir, **extra):
    env = {**os.environ, 'RK_RUNS_DIR': str(runs_dir), 'PYTHONUNBUFFERED': '1', **extra}
    env.pop('WORLD_SIZE', None); env.pop('RANK', None); env.pop('LOCAL_RANK', None)
    return env


def rk(runs_dir, *args, timeout=600, **popen):
    "Run `rk ARGS...` to completion; return the CompletedProcess (text output)."
    return subprocess.run([sys.executable, '-m', 'research_kit.core.cli', *map(str, args)], cwd=REPO,
                          env=rk_env(runs_dir), capture_output=True, text=True, timeout=timeout, **popen)


def read_run(path):
    return json.loads((Path(path) / 'run.json').read_text())


def launch_two_cpu_processes(script_text: str, tmp_path, *args, timeout=900) -> list[dict]:
    """Run `script_text` under `accelerate launch --multi_gpu --num_processes 2` on CPU (gloo) with `tmp_path` and
    `args` as its arguments; return the `rank0.json` and `rank1.json` each process wrote into `tmp_path`."""
    script = Path(tmp_path) / 'train.py'
    script.write_text(script_text)
    env = rk_env(Path(tmp_path) / 'runs', OMP_NUM_THREADS='1')
    p = subprocess.run([sys.executable, '-m', 'accelerate.commands.launch', '--num_processes', '2', '--num_machines', '1',
                        '--multi_gpu', '--mixed_precision', 'no', '--dynamo_backend', 'no', str(script), *map(str, args)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-4000:]
    return [json.loads((Path(tmp_path) / f'rank{r}.json').read_text()) for r in (0, 1)]
