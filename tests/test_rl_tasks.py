"""SAT, ABD and DED: reference answers always verify, corrupted ones never do; the bundled rows and the loader."""
import json, os, random

import pytest

from research_kit.rl.sat import (check_with_solver, corrupt_answers, format_assignment, from_dimacs, generate_sat,
                                 parse_assignment, sat_sample, sat_score, solve_sat, to_dimacs, verify_sat)
from research_kit.rl.code_tasks import (abd_task, build_bundled_rows, bundled_rows, ded_task, load_rows,
                                        parse_test_cases, score_task)
from research_kit.rl.sandbox import SandboxPool


@pytest.fixture(scope='module')
def pool():
    with SandboxPool(2) as p: yield p


def test_sat_solver_answers_verify_and_corruptions_never_do():
    rng = random.Random(1)
    for seed in range(300):
        inst = generate_sat(seed)
        assert 10 <= inst.n_vars <= 20 and 3 <= inst.k <= 5 and len(inst.clauses) == round(4.2 * inst.n_vars)
        assert verify_sat(inst.clauses, inst.planted)
        sol = solve_sat(inst.n_vars, inst.clauses)
        assert sat_score(format_assignment(sol), inst.clauses) == 1.0
        assert sat_score(f'<think>x1=maybe</think>Answer: {format_assignment(sol)}', inst.clauses) == 1.0
        for bad in corrupt_answers(inst, sol, rng):
            assert sat_score(bad, inst.clauses) == 0.0, (seed, bad)
        # the verifier agrees with the exact solver on arbitrary complete assignments
        guess = {v: rng.random() < 0.5 for v in range(1, inst.n_vars + 1)}
        assert verify_sat(inst.clauses, guess) == check_with_solver(inst.clauses, guess)
        assert from_dimacs(to_dimacs(inst)) == inst


def test_sat_parser_is_tolerant():
    assert parse_assignment('x1 = true,x2:false; x3=1 x4 -> F') == {1: True, 2: False, 3: True, 4: False}
    assert parse_assignment('UNSAT') is None
    s = sat_sample(5)
    assert sat_score(s['response'], s['metadata']['clauses']) == 1.0


def test_every_bundled_task_verifies_with_its_reference(pool):
    rows = bundled_rows()
    assert len(rows) >= 200
    tasks = [t for r in rows for t in (abd_task(r, r['task_id']), ded_task(r, r['task_id']))]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as ex:
        scores = list(ex.map(lambda t: score_task(t, t['reference'], pool), tasks))
    failed = [(t['env'], t['prompt'][:80]) for t, s in zip(tasks, scores) if s != 1.0]
    assert not failed, failed[:5]
    # and wrong answers do not verify: another row's input / program
    wrong = [(abd_task(rows[i]), abd_task(rows[i + 1])['reference']) for i in range(0, 40, 2)
             if rows[i]['template'] != rows[i + 1]['template']]
    assert all(score_task(t, ans, pool) == 0.0 for t, ans in wrong[:10] if t['expected_output'] != '')


def test_bundled_rows_are_what_the_builder_makes(pool):
    rows = bundled_rows()
    assert build_bundled_rows(n_rows=40, pool=pool) == rows[:40]     # same seed: the first rows are the same


def test_loader_by_name_on_a_local_copy(tmp_path, monkeypatch, pool):
    monkeypatch.setenv('HF_DATASETS_OFFLINE', '1')
    folder = tmp_path / 'satpalsr' / 'rl-python'
    folder.mkdir(parents=True)
    rows = [{'program': 'a, b = map(int, input().split())\nprint(a * b)', 'inputs': '6 7\n', 'output': '42\n',
             'prompt': 'Read two integers and print their product.',
             'verification_info': json.dumps({'test_cases': [{'type': 'stdin_stdout', 'input': '2 3', 'output': '6'},
                                                             {'type': 'stdin_stdout', 'input': ['4 5'], 'output': 20}]})},
            {'program': 'print(input()[::-1])', 'inputs': 'abc\n', 'output': 'cba\n', 'prompt': 'Reverse a line.',
             'verification_info': str({'test_cases': [{'type': 'stdin_stdout', 'input': 'xy', 'output': 'yx'}]})}]
    (folder / 'python_dataset.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    loaded = load_rows(str(folder), split='train')
    assert [r['program'] for r in loaded] == [r['program'] for r in rows]
    for r in loaded:
        a, d = abd_task(r), ded_task(r)
        assert (score_task(a, a['reference'], pool), score_task(d, d['reference'], pool)) == (1.0, 1.0)
    assert score_task(ded_task(loaded[0]), '```python\nprint(6)\n```', pool) == 0.0
    assert len(parse_test_cases(loaded[1])) == 1
    with pytest.raises(ValueError, match=r"rows\[0\]: missing field\(s\) \['prompt'\]"):
        ded_task({'program': 'x', 'verification_info': '[]'}, 'rows[0]')
