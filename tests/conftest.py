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
