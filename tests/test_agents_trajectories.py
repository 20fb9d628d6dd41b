"""The unified trajectory format: the validator rejects every kind of malformed file with its JSON path, the
converter skips malformed files and never leaves a half-written output, and the module CLIs work end to end."""
import copy, json, os, subprocess, sys
from pathlib import Path

import pytest

from research_kit.agents import trajectories as T
from research_kit.agents.agent import AgentTask, ExpertPolicy, run_agent
from research_kit.agents.knowledge import make_tasks

GOOD = {'task_id': 'math-1', 'domain': 'math', 'question': 'Solve the equation 2x + 5 = 13',
        'actions': [{'step': 1, 'tool': 'reason', 'input': {'prompt': 'p'}, 'output': 'THOUGHT'},
                    {'step': 2, 'tool': 'bash', 'input': {'command': 'python -c "print(4)"'},
                     'output': {'returncode': 0, 'stdout': '4\n', 'stderr': ''}},
                    {'step': 3, 'tool': 'finalize', 'input': {'prompt': 'p'}, 'output': 'Answer: 4'}],
        'final_answer': 'Answer: 4', 'ground_truth': '4', 'success': True, 'metadata': {}}

def _mutate(fn):
    t = copy.deepcopy(GOOD); fn(t); return t

# (case, document, expected JSON path of an error)
CASES = [
    ('missing task_id', _mutate(lambda t: t.pop('task_id')), '$'),
    ('missing actions', _mutate(lambda t: t.pop('actions')), '$'),
    ('missing final_answer', _mutate(lambda t: t.pop('final_answer')), '$'),
    ('missing metadata', _mutate(lambda t: t.pop('metadata')), '$'),
    ('missing step field', _mutate(lambda t: t['actions'][1].pop('tool')), '$.actions[1]'),
    ('task_id wrong type', _mutate(lambda t: t.__setitem__('task_id', 7)), '$.task_id'),
    ('empty task_id', _mutate(lambda t: t.__setitem__('task_id', '')), '$.task_id'),
    ('question wrong type', _mutate(lambda t: t.__setitem__('question', ['q'])), '$.question'),
    ('final_answer wrong type', _mutate(lambda t: t.__setitem__('final_answer', 4)), '$.final_answer'),
    ('actions wrong type', _mutate(lambda t: t.__setitem__('actions', {'step': 1})), '$.actions'),
    ('action wrong type', _mutate(lambda t: t['actions'].__setitem__(0, 'reason')), '$.actions[0]'),
    ('step wrong type', _mutate(lambda t: t['actions'][2].__setitem__('step', '3')), '$.actions[2].step'),
    ('step zero', _mutate(lambda t: t['actions'][0].__setitem__('step', 0)), '$.actions[0].step'),
    ('metadata wrong type', _mutate(lambda t: t.__setitem__('metadata', [])), '$.metadata'),
    ('success wrong type', _mutate(lambda t: t.__setitem__('success', 'yes')), '$.success'),
    ('bad domain enum', _mutate(lambda t: t.__setitem__('domain', 'chess')), '$.domain'),
    ('bad tool name', _mutate(lambda t: t['actions'][0].__setitem__('tool', 'Run Bash!')), '$.actions[0].tool'),
    ('empty actions', _mutate(lambda t: t.__setitem__('actions', [])), '$.actions'),
    ('unknown field', _mutate(lambda t: t.__setitem__('reward', 0.5)), '$'),
    ('unknown action field', _mutate(lambda t: t['actions'][0].__setitem__('extra', 1)), '$.actions[0]'),
    ('root not an object', [GOOD], '$'),
]

def test_good_document_is_valid():
    assert T.schema_errors(GOOD) == []

@pytest.mark.parametrize('case,doc,path', CASES, ids=[c[0] for c in CASES])
def test_validator_rejects_with_json_path(tmp_path, case, doc, path):
    f = tmp_path / 'bad.json'
    f.write_text(json.dumps(doc))
    errors = T.validate_file(f)
    assert errors, case
    assert path in [p for p, _ in errors], (case, errors)
    rep = T.validate_many([str(f)])
    assert rep['ok'] == [] and str(f) in rep['failed']

@pytest.mark.parametrize('text,what', [('{"task_id": "x", "actions": [', 'not valid JSON'), ('', 'not valid JSON'),
                                       (b'\xff\xfe\x00', 'not valid JSON')])
def test_validator_rejects_unreadable(tmp_path, text, what):
    f = tmp_path / 'broken.json'
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    errors = T.validate_file(f)
    assert errors[0][0] == '$' and what in errors[0][1]

def test_validate_cli_reports_each_error_with_file_and_path(tmp_path):
    (tmp_path / 'u').mkdir()
    (tmp_path / 'u' / 'good.json').write_text(json.dumps(GOOD))
    (tmp_path / 'u' / 'bad.json').write_text(json.dumps(CASES[11][1] | {'domain': 'chess'}))
    p = subprocess.run([sys.executable, '-m', 'research_kit.agents.trajectories', 'validate', '--unified_glob', f'{tmp_path}/u/*.json'],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert 'scanned 2 files; bad=1' in p.stdout
    assert f"bad.json: $.actions[2].step:" in p.stderr and "bad.json: $.domain:" in p.stderr
    assert 'good.json' not in p.stderr

def _raw_trajectories(tmp_path):
    raw = tmp_path / 'raw'
    raw.mkdir()
    for t in make_tasks('math', 2):
        traj = run_agent(AgentTask.from_dict(t), ExpertPolicy())
        (raw / f"{t['id']}.traj.json").write_text(json.dumps(traj))
    (raw / 'broken.traj.json').write_text('{"actions": [')
    (raw / 'empty.traj.json').write_text(json.dumps({'task_id': 'e', 'question': 'q', 'actions': []}))
    return raw

def test_convert_cli_skips_malformed_and_writes_valid_files(tmp_path):
    raw = _raw_trajectories(tmp_path)
    p = subprocess.run([sys.executable, '-m', 'research_kit.agents.trajectories', 'convert', f'{raw}/*.traj.json',
                        '--domain', 'math', '--out_dir', str(tmp_path / 'unified')], capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    assert 'broken.traj.json: $: not valid JSON' in p.stderr
    assert 'empty.traj.json: $.actions: [] should be non-empty' in p.stderr
    written = sorted((tmp_path / 'unified').rglob('*'))
    assert [f.name for f in written if f.is_file()] == ['math-train-0-0.json', 'math-train-0-1.json']
    assert T.validate_many(str(tmp_path / 'unified'))['failed'] == {}
    u = json.loads((tmp_path / 'unified' / 'math' / 'math-train-0-0.json').read_text())
    assert u['task_id'] == 'math-train-0-0' and u['ground_truth'] is not None and u['success'] is True

def test_convert_out_single_file_and_refuses_many(tmp_path):
    raw = _raw_trajectories(tmp_path)
    out = tmp_path / 'one' / 'demo.json'
    assert T.main(['convert', str(raw / 'math-train-0-0.traj.json'), '--out', str(out)]) == 0
    assert T.validate_file(out) == []
    assert T.main(['convert', f'{raw}/math-*.traj.json', '--out', str(tmp_path / 'x.json')]) == 2
    assert not (tmp_path / 'x.json').exists()

def test_converter_failure_leaves_old_output_intact(tmp_path):
    out = tmp_path / 'u.json'
    out.write_text('previous content')
    bad = tmp_path / 'bad.traj.json'
    bad.write_text(json.dumps({'task_id': 'x', 'question': 'q', 'actions': [], 'final_answer': 'y'}))
    with pytest.raises(T.TrajectoryError) as e:
        T.convert_file(bad, out)
    assert '$.actions' in str(e.value)
    assert out.read_text() == 'previous content'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.traj.json', 'u.json']

def test_converter_crash_mid_write_leaves_nothing(tmp_path, monkeypatch):
    raw = _raw_trajectories(tmp_path)
    target = tmp_path / 'out' / 'a.json'
    def boom(*a, **k): raise OSError('disk full')
    monkeypatch.setattr(os, 'replace', boom)
    with pytest.raises(OSError):
        T.convert_file(raw / 'math-train-0-0.traj.json', target)
    assert list((tmp_path / 'out').iterdir()) == []          # no partial file, no temporary left behind

def test_foreign_formats_convert():
    swe = {'run_id': 'r', 'domain': 'swe', 'task_id': 'print 3', 'success': True, 'steps': [
        {'role': 'assistant', 'content': 'PLAN', 'phase': 'PLAN'}, {'role': 'tool', 'content': '<returncode>0</returncode>'}]}
    u = T.to_unified(swe)
    assert u['domain'] == 'swe' and [a['step'] for a in u['actions']] == [1, 2] and u['success'] is True
    mini = {'info': {'status': 'done'}, 'messages': [{'role': 'user', 'content': 'fix the bug'},
            {'role': 'assistant', 'content': 'run', 'cmd': 'pytest'}, {'role': 'tool', 'content': 'ok', 'output': '1 passed'},
            {'role': 'assistant', 'content': 'done'}]}
    u = T.to_unified(mini, 'swe', 'mini-1')
    assert u['task_id'] == 'mini-1' and [a['tool'] for a in u['actions']] == ['bash', 'tool'] and u['final_answer'] == 'done'
    with pytest.raises(T.TrajectoryError, match=r'\$\.actions'):
        T.to_unified({'question': 'q'}, 'math', 't')
