"""The generative trainer under `accelerate launch --multi_gpu` with 2 CPU processes (gloo): both processes take
their half of every batch, DDP averages the gradients, and both end with the same (changed) weights."""
import json, os, subprocess, sys, textwrap

from conftest import REPO, launch_two_cpu_processes
from research_kit.generative.data import generate_dataset

SCRIPT = textwrap.dedent('''
    import hashlib, json, os, sys
    import torch
    torch.set_num_threads(1)
    import research_kit.generative.train as gt
    from research_kit.generative.pipeline import PIPELINE

    trainers = []
    class Recording(gt.Trainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k); trainers.append(self)
    gt.Trainer = Recording

    def digest(module):
        return hashlib.sha1(b''.join(p.detach().float().cpu().numpy().tobytes() for p in module.parameters())).hexdigest()

    data, out, objective = sys.argv[1:4]
    cfg = PIPELINE.build_config(None, ['image_size=16', 'batch_size=8', 'base_lr=1e-3', 'max_epochs=2', 'eval_scenes=2',
                                       'eval_samples=1', 'sampling_steps=2', 'threads=1', 'data.train_split=0.75',
                                       'model.network.dim=32', 'model.network.depth=1', 'model.network.heads=2',
                                       'trainer.progress=false', f'objective={objective}', f'data.data_dir={data}'])
    result = gt.fit(cfg, None)
    tr = trainers[0]
    gt.seed_everything(cfg.seed); init = gt.build_model(cfg)[0]     # the weights fit started from
    with open(os.path.join(out, f'rank{tr.process_index}.json'), 'w') as f:
        json.dump({'processes': tr.num_processes, 'steps': result['steps'], 'weights': digest(tr.unwrapped),
                   'init': digest(init),
                   'val_loss': result['val_loss'], 'has_iou': 'iou' in result}, f)
''')


def test_generative_fit_under_accelerate_launch_with_two_cpu_processes(tmp_path):
    data = generate_dataset(tmp_path / 'scenes', 24, seed=200, progress=False)
    ranks = launch_two_cpu_processes(SCRIPT, tmp_path, data, tmp_path, 'flow_matching', timeout=600)
    assert [r['processes'] for r in ranks] == [2, 2]
    assert ranks[0]['steps'] == ranks[1]['steps'] == 4             # 18 training scenes, global batch 8: 2 steps an epoch
    assert ranks[0]['weights'] != ranks[0]['init']                 # training changed the weights...
    assert ranks[0]['weights'] == ranks[1]['weights']              # ...and DDP kept the two copies identical
    assert ranks[0]['val_loss'] == ranks[1]['val_loss']
    assert ranks[0]['has_iou'] and not ranks[1]['has_iou']         # only the main process samples and scores
