"""Agents, rewards, SFT data and evaluation: expert trajectories beat random ones, rewards match hand-computed
values, the seed's module CLIs work end to end, and `rk data agents` builds everything in one go."""
import json, statistics, subprocess, sys
from pathlib import Path

import pytest

from research_kit.agents.evaluation import agent_tasks, evaluate_trajectories, run_policy
from research_kit.agents.agent import ExpertPolicy, RandomPolicy, Toolbox
from research_kit.agents.knowledge import DOMAINS, make_knowledge_base, make_video, write_captions
from research_kit.agents.rewards import RewardCalculator, calculate_reward
from research_kit.agents.trajectories import validate_file

def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, '-m', *args], capture_output=True, text=True, cwd=cwd, timeout=300)

@pytest.mark.parametrize('domain', DOMAINS)
def test_expert_scores_higher_than_random(tmp_path, domain):
    kb = make_knowledge_base(3)
    tasks = agent_tasks(domain, 8, 'heldout', seed=3, folder=tmp_path, kb=kb)
    expert = [calculate_reward(t) for t in run_policy(ExpertPolicy(), tasks)]
    rand = [calculate_reward(t) for t in run_policy(RandomPolicy(seed=5), tasks)]
    e, r = statistics.mean(x['total'] for x in expert), statistics.mean(x['total'] for x in rand)
    assert e > r + 0.2, (e, r)
    assert all(x['correctness'] == 1.0 for x in expert)
    assert min(x['total'] for x in expert) > statistics.median(x['total'] for x in rand)

def test_rewards_hand_computed():
    video = {'domain': 'video', 'ground_truth': 'a chef rings a bell',
             'final_answer': 'In the scene after the door opens, a chef rings a bell.',
             'actions': [{'tool': 'load_context', 'output': 'captions'}, {'tool': 'reason', 'output': 'short'},
                         {'tool': 'reason', 'output': 'Because step 2 shows it, the answer is clear'},
                         {'tool': 'finalize', 'output': '...'}]}
    r = calculate_reward(video)
    # completion 1 (matches), efficiency 1 (one tool), quality 0.5 + 0.3 (scene) + 0.2 (after) = 1.0,
    # reasoning (0 + (0.3 because + 0.2 step))/2 = 0.25
    assert r['completion'] == 1.0 and r['efficiency'] == 1.0 and r['correctness'] == 1.0
    assert r['quality'] == pytest.approx(1.0) and r['reasoning'] == pytest.approx(0.25)
    assert r['total'] == pytest.approx(0.3 + 0.2 + 0.4 + 0.1 * 0.25)
    math = {'domain': 'math', 'final_answer': 'x is 4', 'success': False,
            'actions': [{'tool': 'bash', 'output': {'returncode': 0}}] * 5 + [{'tool': 'reason', 'output': 'I also think so'}]}
    r = calculate_reward(math)
    # no ground truth, not successful: completion 0.5 (answer > 5 chars); efficiency 1 - 0.2 * 2 = 0.6;
    # quality 0.5 + 0.2 (a digit) = 0.7; reasoning 0.3 ("so" as a word; "also" alone would not count)
    assert r['correctness'] is None
    assert (r['completion'], r['efficiency']) == (0.5, pytest.approx(0.6))
    assert r['quality'] == pytest.approx(0.7) and r['reasoning'] == pytest.approx(0.3)
    assert r['total'] == pytest.approx(0.5 * 0.5 + 0.1 * 0.6 + 0.3 * 0.7 + 0.1 * 0.3)
    # as swe: quality 0.5 + 0.1 (no 'error'/'bug'), weights 0.4/0.3/0.2/0.1
    assert calculate_reward(math, 'swe')['total'] == pytest.approx(0.4 * 0.5 + 0.3 * 0.6 + 0.2 * 0.6 + 0.1 * 0.3)
    assert calculate_reward({'actions': [{'tool': 'reason', 'output': 'I also think'}], 'final_answer': ''})['reasoning'] == 0.0
    assert RewardCalculator(correctness_weight=0.5).calculate_reward({**video, 'ground_truth': 'a dog'})['total'] == pytest.approx(
        0.5 * (0.3 * 0.5 + 0.2 + 0.4 + 0.1 * 0.25))

def test_bash_tool_is_sandboxed():
    tb = Toolbox()
    assert tb.bash('python -c "print(2**10)"')['stdout'] == '1024\n'
    assert tb.bash('cat /etc/passwd')['returncode'] == 127
    out = tb.bash('python -c "import os; open(\'/work_escape\', \'w\').write(\'x\')"')
    assert out['returncode'] != 0 and not Path('/work_escape').exists()

def test_agent_clis(tmp_path):
    caps = write_captions(make_video(11), tmp_path / 'toy_captions.txt')
    runs = [('mhqa', ['--question', 'Who wrote The Hobbit and what other works did they create?']),
            ('video', ['--video_ctx', str(caps), '--question', 'What happens in the first scene?']),
            ('math', ['--question', 'Solve the equation 2x + 5 = 13', '--answer', '4'])]
    for domain, args in runs:
        out = tmp_path / 'data' / 'raw' / f'{domain}_demo.traj.json'
        p = _cli('research_kit.agents.agent', domain, *args, '--out', str(out))
        assert p.returncode == 0, p.stderr
        traj = json.loads(out.read_text())
        assert traj['domain'] == domain and traj['actions'][-1]['tool'] == 'finalize' and traj['final_answer']
        assert validate_file(out) == []
    assert json.loads((tmp_path / 'data/raw/math_demo.traj.json').read_text())['success'] is True
    video = json.loads((tmp_path / 'data/raw/video_demo.traj.json').read_text())
    assert make_video(11)['scenes'][0]['action'] in video['final_answer']
    p = _cli('research_kit.agents.agent', 'video', '--question', 'q', '--video_ctx', str(tmp_path / 'missing.txt'))
    assert p.returncode == 2 and 'missing.txt: no such file' in p.stderr
    p = _cli('research_kit.agents.rewards', '--trajectory_glob', f'{tmp_path}/data/raw/*.traj.json', '--output',
             str(tmp_path / 'analysis.json'), '--stats', '--min_reward', '0.3')
    assert p.returncode == 0, p.stderr
    assert 'mean total' in p.stdout and '>= 0.3: ' in p.stdout
    assert len(json.loads((tmp_path / 'analysis.json').read_text())) == 3

def test_lm_policy_cli_with_tiny_model(tmp_path):
    out = tmp_path / 'lm.traj.json'
    p = _cli('research_kit.agents.agent', 'math', '--question', 'What is 12 * 3 - 4?', '--policy', 'lm', '--model', 'tiny',
             '--max_new_tokens', '16', '--out', str(out))
    assert p.returncode == 0, p.stderr
    traj = json.loads(out.read_text())
    assert traj['metadata']['policy'] == 'lm' and traj['actions'][0]['tool'] == 'reason' and validate_file(out) == []

def test_agents_data_main_end_to_end(tmp_path):
    from datasets import load_from_disk
    from research_kit.agents.cli import agents_data_main
    from research_kit.llm.sft import check_rows
    agents_data_main(['--out', str(tmp_path), '--n', '4', '--min_reward', '0.7'])
    m = json.loads((tmp_path / 'MANIFEST.json').read_text())
    assert m['n_raw'] == m['n_unified'] == 24
    for d in DOMAINS: assert m['mean_reward'][f'expert/{d}'] > m['mean_reward'][f'random/{d}']
    summary = json.loads((tmp_path / 'sft' / 'SUMMARY.json').read_text())
    assert set(summary['tools']) == {'reason', 'bash', 'finalize', 'load_context', 'reason_hop'}
    assert all(c['train'] > 0 for c in summary['tools'].values())
    ds = load_from_disk(str(tmp_path / 'sft' / 'bash'))
    assert min(ds['train']['reward']) >= 0.7
    check_rows([{'messages': m} for m in ds['train']['messages']])        # what the SFT trainer accepts
    analysis = json.loads((tmp_path / 'rewards' / 'analysis.json').read_text())
    assert len(analysis) == 24 and all('total' in a['rewards'] for a in analysis)

def test_evaluation_per_tool_and_domain(tmp_path):
    tasks = [t for d in DOMAINS for t in agent_tasks(d, 3, 'heldout', folder=tmp_path)]
    res = evaluate_trajectories(run_policy(ExpertPolicy(), tasks))
    assert set(res['per_domain']) == set(DOMAINS)
    assert set(res['per_tool']) == {'reason', 'reason_hop', 'load_context', 'bash', 'finalize'}
    for m in res['per_domain'].values():
        assert m['success']['mean'] == 1.0 and m['reward']['ci_low'] < m['reward']['mean'] <= m['reward']['ci_high']
    assert res['per_tool']['bash']['call_ok']['mean'] == 1.0
    rnd = evaluate_trajectories(run_policy(RandomPolicy(seed=2), tasks))
    assert rnd['mean_reward'] < res['mean_reward']

def test_seed_rl_eval_and_train_models_clis(tmp_path):
    "The seed's trl_train_rl.py, eval.py and train_models.py flags, as module CLIs, end to end on the tiny model."
    from research_kit.agents.agent import run_agent, save_trajectory
    kb = make_knowledge_base(0)
    for domain in DOMAINS:
        for t in agent_tasks(domain, 2, 'train', 0, tmp_path / 'ctx', kb):
            traj = run_agent(t, ExpertPolicy())
            save_trajectory(traj, tmp_path / 'data/raw' / domain / f"{traj['task_id']}.traj.json")
    (tmp_path / 'rl.yaml').write_text('learning_rate: 1.0e-4\nbatch_size: 2\nppo_epochs: 1\nmax_new_tokens: 8\n')
    p = _cli('research_kit.agents.rl', '--config', str(tmp_path / 'rl.yaml'), '--model_name', 'tiny', '--trajectory_glob',
             f'{tmp_path}/data/raw/*/*.traj.json', '--out_dir', str(tmp_path / 'models/rl'), '--min_reward', '0.3', '--updates', '1')
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res['warm_start_kept'] == 6 and (tmp_path / 'models/rl/model/config.json').is_file()

    (tmp_path / 'test.jsonl').write_text(json.dumps({'domain': 'math', 'question': 'Solve 2x + 5 = 13', 'answer': '4'}) + '\n')
    p = _cli('research_kit.agents.evaluation', '--model_path', str(tmp_path / 'models/rl/model'), '--test_data',
             str(tmp_path / 'test.jsonl'), '--out', str(tmp_path / 'eval.json'))
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads((tmp_path / 'eval.json').read_text())
    assert out['policy'] == 'lm' and out['n'] == 1 and 'math' in out['per_domain']
    (tmp_path / 'bad.jsonl').write_text('{"domain": "math"}\n')
    p = _cli('research_kit.agents.evaluation', '--test_data', str(tmp_path / 'bad.jsonl'))
    assert p.returncode == 2 and "bad.jsonl:1: 'question' must be a non-empty string" in p.stderr

    env = {**__import__('os').environ, 'RK_RUNS_DIR': str(tmp_path / 'runs')}
    p = subprocess.run([sys.executable, '-m', 'research_kit.agents.pipeline', '--mode', 'sft', '--preset', 'smoke',
                        'n_train=3', 'n_eval=1', 'sft_tools=[finalize]', 'eval_max_new_tokens=8', 'sft.epochs=1.0'],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    run_dir = next((tmp_path / 'runs').iterdir())
    info = json.loads((run_dir / 'run.json').read_text())
    assert info['status'] == 'finished' and info['metrics']['reward_expert'] > info['metrics']['reward_random']
    p = _cli('research_kit.agents.pipeline', '--mode', 'all')
    assert p.returncode == 2 and "invalid choice: 'all'" in p.stderr


def test_agent_rl_grad_clip_comes_from_the_trainer_config():
    "`rl.trainer.grad_clip` is the clip of agent PPO; the old `ppo.grad_clip` still feeds it, with a DeprecationWarning."
    from research_kit.core.config import build_config
    from research_kit.agents.rl import AgentRLConfig
    from research_kit.llm.ppo import ppo_trainer_config
    cfg = build_config(AgentRLConfig, overrides=['trainer.grad_clip=0.5'])
    assert cfg.ppo.grad_clip is None and ppo_trainer_config(cfg.ppo, cfg.trainer).grad_clip == 0.5
    old = build_config(AgentRLConfig, overrides=['ppo.grad_clip=0.25', 'trainer.mixed_precision=no'])
    with pytest.warns(DeprecationWarning, match='trainer.grad_clip'):
        tcfg = ppo_trainer_config(old.ppo, old.trainer)
    assert (tcfg.grad_clip, tcfg.mixed_precision) == (0.25, 'no')
