"""The LLM trainers under `accelerate launch --multi_gpu` (torchrun underneath; gloo on a machine without GPUs)
with 2 CPU processes: PPO (on the kit's Trainer) and SFT (TRL) run
in both processes, and DDP keeps the two copies of the weights identical."""
import json, os, subprocess, sys, textwrap
from pathlib import Path

from conftest import REPO, launch_two_cpu_processes

SCRIPT = textwrap.dedent('''
    import hashlib, json, os, sys, random
    import torch
    torch.set_num_threads(1)
    from accelerate import PartialState
    from research_kit.core.checkpoints import seed_everything
    from research_kit.llm.lm import load_lm
    from research_kit.affine.lineworld import LineWorld
    from research_kit.llm.ppo import AgentPolicy, PPOConfig, ppo_train
    from research_kit.llm.sft import SFTSettings, sft_train

    def digest(module):
        return hashlib.sha1(b''.join(p.detach().float().cpu().numpy().tobytes() for p in module.parameters())).hexdigest()

    out = sys.argv[1]
    seed_everything(0)
    lm, tok = load_lm('tiny')
    policy = AgentPolicy(lm)
    before = digest(policy)
    cfg = PPOConfig(num_envs=4, updates=2, max_turns=3, minibatches=2, ppo_epochs=1, history_turns=0, system_prompt='',
                    lr=1e-3, value_lr=1e-3)
    history = ppo_train(policy, tok, LineWorld, cfg, progress=False)
    state = PartialState()

    seed_everything(0)
    lm2, tok2 = load_lm('tiny')
    rng = random.Random(0)
    rows = [{'messages': [{'role': 'user', 'content': f'Repeat: {w}'}, {'role': 'assistant', 'content': w}]}
            for w in (rng.choice(['apple', 'river', 'stone']) for _ in range(40))]
    res = sft_train(lm2, tok2, rows, SFTSettings(learning_rate=1e-3, epochs=1, batch_size=4, grad_accum=1, eval_steps=100,
                                                  use_lora=False, logging_steps=100), os.path.join(out, 'sft'))
    rank = state.process_index
    with open(os.path.join(out, f'rank{rank}.json'), 'w') as f:
        json.dump({'rank': rank, 'processes': state.num_processes, 'ppo_before': before, 'ppo_after': digest(policy),
                   'ppo_updates': len(history), 'sft_after': digest(res['trainer'].model), 'sft_steps': res['steps']}, f)
''')


def test_ppo_and_sft_under_accelerate_launch_with_two_cpu_processes(tmp_path):
    ranks = launch_two_cpu_processes(SCRIPT, tmp_path, tmp_path)
    assert [r['processes'] for r in ranks] == [2, 2]
    assert ranks[0]['ppo_before'] == ranks[1]['ppo_before']
    assert ranks[0]['ppo_after'] != ranks[0]['ppo_before']            # training changed the weights...
    assert ranks[0]['ppo_after'] == ranks[1]['ppo_after']             # ...identically in both processes (DDP)
    assert ranks[0]['sft_after'] == ranks[1]['sft_after'] and ranks[0]['sft_steps'] == ranks[1]['sft_steps'] > 0
    # 36 training rows over 2 processes of 4: 5 steps each, half of what one process would take
    assert ranks[0]['sft_steps'] == 5
