"""Kill-and-resume: a run SIGKILLed at many moments and resumed each time ends exactly like an uninterrupted run,
no kill leaves an unreadable checkpoint or a temporary that a resume reads, and `attempts` is exact.

`attempts` counts the processes that took the run (`Run.start`, the first thing a process does to a run folder).
A launch killed before that point left the folder exactly as it found it and is not an attempt; one killed after
it is counted once and its pid is in run.json. The test checks one or the other for every launch, wherever its
kill landed, and that the final count is the number of launches that took the run."""
import hashlib, json, os, random, signal, subprocess, sys, time
from pathlib import Path

import torch

from conftest import REPO, read_run, rk, rk_env
from research_kit.core.checkpoints import load_checkpoint

# Long enough (about 10 s of training) for kills to land all over the run, with frequent checkpoints so many land
# near or inside a checkpoint write.
CONFIG = ['--preset', 'smoke', 'max_steps=1500', 'trainer.ckpt_every=7', 'trainer.eval_every=50', 'trainer.log_every=5',
          'trainer.progress=false', 'data.n_train=4096', 'model.hidden=192']
# The schedule that found issue 13: sorted(random.Random(1234).sample(range(20, 1450), 10)). Each kill lands up to
# 50 ms after the process being killed has itself logged that step.
TARGETS = [35, 91, 191, 205, 221, 259, 922, 1212, 1395, 1439]
# Extra resumes after some of those kills. 'at_launch' is killed within its first 50 ms, long before it can take the
# run: the old test's poll read the previous process's metrics, and so killed the resume after the kill at step 191
# that early, and counted an attempt the resume never made. 'after_start' is killed as soon as run.json shows that
# it took the run; left-over temporaries are planted before it, which it must delete without reading them.
EXTRA = {2: ('at_launch',), 5: ('after_start', 'at_launch')}


def _records(run):
    try: return [json.loads(line) for line in (Path(run) / 'metrics.jsonl').read_text().splitlines()]
    except (FileNotFoundError, json.JSONDecodeError): return []     # not written yet, or a line being written


def _metrics(run): return [{k: v for k, v in r.items() if k != 'time'} for r in _records(run)]
def _last_step(run): return max((r['step'] for r in _records(run)), default=0)


def _reached(run, since):
    "The last step logged after `since`: how far the process launched then has itself trained."
    return max((r['step'] for r in _records(run) if r['time'] >= since), default=-1)


def _temporaries(folder): return sorted(p.name for p in Path(folder).glob('.*.tmp'))


def _files(run):
    "Every file of the run folder but the temporaries, with a digest of its bytes."
    return {str(p.relative_to(run)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(Path(run).rglob('*')) if p.is_file() and not (p.name.startswith('.') and p.name.endswith('.tmp'))}


def _start(runs_dir, *args):
    return subprocess.Popen([sys.executable, '-m', 'research_kit.core.cli', *map(str, args)], cwd=REPO,
                            env=rk_env(runs_dir), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)


def _kill(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _wait(until, proc, what, timeout=120):
    deadline = time.time() + timeout
    while not until():
        assert proc.poll() is None, f'the process ended before {what}'
        assert time.time() < deadline, f'timed out waiting for {what}'
        time.sleep(0.01)


def _took_the_run(run, proc, before, files_before):
    "After `proc` was killed: it took the run (one more attempt, its pid recorded) or left the folder as it was."
    info = read_run(run)
    if info.get('pid') == proc.pid:
        assert info['attempts'] == before.get('attempts', 0) + 1 and info['status'] == 'running', (info, before)
        return True
    assert info == before, (info, before)                 # no attempt counted, none lost ...
    assert _files(run) == files_before                    # ... and a launch that was not counted did nothing
    return False


def _after_kill(run):
    for name in ('last.pt', 'best.pt'):                   # a kill must never leave an unreadable checkpoint behind
        path = run / 'checkpoints' / name
        if path.exists(): load_checkpoint(path)
    leftovers = _temporaries(run / 'checkpoints')
    assert len(leftovers) <= 1, leftovers                 # the save that was cut off, at most: the others are cleared


def _plant_leftovers(run):
    "What kills left behind: a complete checkpoint under a temporary name (with other weights) and half a run.json."
    state = load_checkpoint(run / 'checkpoints' / 'last.pt')
    state['model'] = {k: v + 1.0 for k, v in state['model'].items()}
    torch.save(state, run / 'checkpoints' / '.last.pt.left-by-a-kill.tmp')
    (run / '.run.json.left-by-a-kill.tmp').write_text('{"status": "fini')


def test_sigkill_at_any_moment_then_resume_matches_uninterrupted(runs_dir):
    reference = rk(runs_dir, 'run', 'example', '--no-notebook', '--name', 'straight', *CONFIG)
    assert reference.returncode == 0, reference.stderr[-2000:]
    straight = Path(reference.stdout.strip().splitlines()[-1])

    rng = random.Random(1234)
    run, launches, counted, kills = None, 0, 0, []

    def launch(*args):
        nonlocal launches
        launches += 1
        before = read_run(run) if run else {}
        files = _files(run) if run else None
        return time.time(), before, files, _start(runs_dir, *args)

    since, before, files, proc = launch('run', 'example', '--no-notebook', '--name', 'killed', *CONFIG)
    for i, target in enumerate(TARGETS):
        def passed():
            nonlocal run
            if run is None: run = next((d for d in runs_dir.iterdir() if d.name.endswith('-killed')), None)
            return run is not None and _reached(run, since) >= target
        _wait(passed, proc, f'step {target}')
        time.sleep(rng.uniform(0, 0.05))
        assert proc.poll() is None, f'the run ended before the kill after step {target}'
        _kill(proc)
        kills.append(_last_step(run))
        counted += _took_the_run(run, proc, before, files)
        _after_kill(run)

        for kind in EXTRA.get(i, ()):
            if kind == 'after_start': _plant_leftovers(run)
            _, before, files, proc = launch('resume', run, '--no-notebook')
            if kind == 'at_launch': time.sleep(rng.uniform(0, 0.05))
            else: _wait(lambda: read_run(run).get('pid') == proc.pid, proc, 'the resume to take the run')
            _kill(proc)
            took = _took_the_run(run, proc, before, files)
            counted += took
            if kind == 'after_start':                    # it took the run, clearing the leftovers first
                assert took and '.run.json.left-by-a-kill.tmp' not in _temporaries(run)
                assert '.last.pt.left-by-a-kill.tmp' not in _temporaries(run / 'checkpoints')
            _after_kill(run)

        since, before, files, proc = launch('resume', run, '--no-notebook')
    proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert len(kills) == len(TARGETS) and kills[-1] >= TARGETS[-1], kills

    info, ref = read_run(run), read_run(straight)
    assert info['status'] == 'finished' and info['pid'] == proc.pid and info['attempts'] == before['attempts'] + 1
    counted += 1
    assert info['attempts'] == counted, (info['attempts'], counted, launches)
    assert not _temporaries(run) and not _temporaries(run / 'checkpoints')   # the finished attempt left none
    assert info['metrics'] == ref['metrics']                   # bit-identical final metrics
    assert _metrics(run) == _metrics(straight)                 # and the same history, with no duplicated steps
    a, b = load_checkpoint(run / 'checkpoints' / 'last.pt'), load_checkpoint(straight / 'checkpoints' / 'last.pt')
    assert all((a['model'][k] == b['model'][k]).all() for k in a['model'])


def test_a_run_a_live_process_holds_cannot_be_resumed(runs_dir):
    "Two writers of one run: `rk resume` of a run that a live process is training is refused and changes nothing."
    proc = _start(runs_dir, 'run', 'example', '--no-notebook', '--name', 'live', '--preset', 'smoke',
                  'max_steps=1000000', 'trainer.progress=false')
    try:
        run = None
        def training():
            nonlocal run
            run = run or next((d for d in runs_dir.iterdir() if d.name.endswith('-live')), None)
            return run is not None and _last_step(run) > 0
        _wait(training, proc, 'the run to train')
        before = read_run(run)
        second = rk(runs_dir, 'resume', run, '--no-notebook', timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f'already running (attempt 1, pid {proc.pid}' in second.stderr, second.stderr[-2000:]
        after = read_run(run)
        assert (after['attempts'], after['pid'], after['status']) == (1, proc.pid, 'running') == \
               (before['attempts'], before['pid'], before['status'])
        assert proc.poll() is None
    finally: _kill(proc)
