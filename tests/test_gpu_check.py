"""The GPU check's command at tiny sizes on a CPU, so that it cannot rot between the runs on a GPU: every check runs
without error and gives a positive throughput, and results.json and table.md are written (about 15 s on 2 cores)."""
import json, re, subprocess, sys

from conftest import REPO

from research_kit.core.gpu_check import CHECKS, check_sft


def test_gpu_check_command_runs_every_check_at_tiny_sizes(tmp_path):
    out = tmp_path / 'gpu'
    p = subprocess.run([sys.executable, '-m', 'research_kit.core.gpu_check', '--tiny', '--out', str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    results = json.loads((out / 'results.json').read_text())
    assert results['tiny'] and results['all_ok'] and results['within_budget']
    assert list(results['checks']) == list(CHECKS) == ['world_model', 'generative', 'sft', 'rollouts', 'frameworks']
    for name, r in results['checks'].items():
        assert r['ok'], (name, r.get('error'), r.get('traceback'))
        assert r['throughput'] > 0 and r['seconds'] > 0 and r['unit'], (name, r)
        assert r['goal_met'] is None            # goals are judged on a GPU at the default sizes only
    c = results['checks']
    assert c['world_model']['steps_per_s'] > 0 and c['world_model']['sequences_per_s'] > 0
    assert c['generative']['bf16_steps_per_s'] > 0 and c['generative']['fp32_steps_per_s'] > 0
    assert c['sft']['tokens_per_s'] > 0 and c['sft']['timed_tokens'] > 0
    assert c['rollouts']['turns_per_s'] > 0 and c['rollouts']['envs'] == 4
    assert c['frameworks']['render_games_per_s'] > 0 and c['frameworks']['player_steps_per_s'] > 0
    table = (out / 'table.md').read_text()
    assert all(f'| {name} | ok |' in table for name in CHECKS), table
    assert table in p.stdout                    # the table is printed too
    assert sorted(f.name for f in out.iterdir()) == ['results.json', 'table.md']


def test_sft_check_without_trl_runs_the_plain_loop(monkeypatch):
    "The GPU machine has no TRL: the SFT check falls back to the PyTorch loop and says so."
    monkeypatch.setitem(sys.modules, 'trl', None)      # `import trl` raises ImportError
    r = check_sft(tiny=True)
    assert r['trainer'] == 'torch loop' and 'trl' in r['trainer_note']
    assert r['tokens_per_s'] > 0 and r['timed_tokens'] > 0 and r['gradient_checkpointing']


def test_gpu_wheels_are_pinned_in_the_lock():
    "Every wheel tools/gpu_wheels.sh downloads has its exact version in requirements.lock."
    script = (REPO / 'tools' / 'gpu_wheels.sh').read_text()
    names = re.search(r'^PACKAGES=\(([^)]*)\)', script, re.M).group(1).replace('"$@"', '').split()
    assert 'fastcore' in names and 'scipy' in names
    pins = {re.sub(r'[-_.]+', '-', line.split('==')[0]).lower()
            for line in (REPO / 'requirements.lock').read_text().splitlines() if '==' in line and not line.startswith('#')}
    assert [n for n in names if re.sub(r'[-_.]+', '-', n).lower() not in pins] == []
