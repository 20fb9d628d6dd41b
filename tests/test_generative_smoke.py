"End to end: `rk run generative --preset smoke` for both objectives beats the untrained network (slow: minutes each)."
import pytest

from conftest import read_run, rk


@pytest.mark.slow
@pytest.mark.parametrize('objective', ['flow_matching', 'diffusion'])
def test_smoke_run_beats_untrained(runs_dir, objective):
    p = rk(runs_dir, 'run', 'generative', '--preset', 'smoke', f'objective={objective}', timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (run_dir,) = [d for d in runs_dir.iterdir() if d.is_dir()]
    info = read_run(run_dir)
    m = info['metrics']
    assert info['status'] == 'finished' and m['iou'] > m['untrained_iou'], m
    assert (run_dir / 'checkpoints' / 'best.pt').exists() and (run_dir / 'figures' / 'val_samples.png').exists()
    assert (run_dir / 'generative.ipynb').exists() or any(run_dir.glob('*.ipynb'))
