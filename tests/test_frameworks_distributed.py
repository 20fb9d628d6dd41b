"""Frameworks training under `accelerate launch --multi_gpu` with 2 CPU processes (gloo): both processes train,
each on its own games, and the averaged gradients keep the two copies of the player identical."""
import json, os, subprocess, sys, textwrap

from conftest import REPO, launch_two_cpu_processes

SCRIPT = textwrap.dedent('''
    import hashlib, json, os, sys
    import torch
    torch.set_num_threads(1)
    from accelerate import PartialState
    from research_kit.core.config import build_config
    import research_kit.frameworks.training as T

    def digest(module):
        return hashlib.sha1(b''.join(p.detach().float().cpu().numpy().tobytes() for p in module.parameters())).hexdigest()

    players, before = [], []
    class Recorded(T.AgentPlayer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k); players.append(self); before.append(digest(self))
    T.AgentPlayer = Recorded
    losses = []
    fn = T.FRAMEWORKS['near_gold_qa'].fn
    def recorded(*a, **k):
        res = fn(*a, **k); losses.append(res.loss.item()); return res
    T.FRAMEWORKS['near_gold_qa'].fn = recorded

    cfg = build_config(T.FrameworksConfig, {'smoke': T.SMOKE}, 'smoke',
                       ['trainer.cpu=true', 'trainer.progress=false', 'max_steps=3', 'batch_size=4', 'eval_all=false',
                        'eval_batches=1', 'trainer.eval_every=0', 'trainer.ckpt_every=0', 'only=[near_gold_qa]'])
    out = T.fit(cfg, None)
    state = PartialState()
    with open(os.path.join(sys.argv[1], f'rank{state.process_index}.json'), 'w') as f:
        json.dump({'processes': state.num_processes, 'steps': out['steps'], 'before': before[0], 'after': digest(players[0]),
                   'losses': losses[:3]}, f)
''')


def test_fit_under_accelerate_launch_with_two_cpu_processes(tmp_path):
    ranks = launch_two_cpu_processes(SCRIPT, tmp_path, tmp_path)
    assert [r['processes'] for r in ranks] == [2, 2] and [r['steps'] for r in ranks] == [3, 3]
    assert ranks[0]['before'] == ranks[1]['before']                  # DDP starts both from the same weights
    assert ranks[0]['after'] != ranks[0]['before']                   # training changed them...
    assert ranks[0]['after'] == ranks[1]['after']                    # ...identically in both processes
    assert ranks[0]['losses'] != ranks[1]['losses']                  # each process trained on its own games
