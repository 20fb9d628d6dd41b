"""Evaluation math against values computed by hand (or by an independent quadrature, not scipy)."""
import json, math

import pytest

from research_kit.affine.evaluation import (aggregate, beta_interval, compare_models, dominates, env_metrics, env_winner,
                                        evaluate_scores, pareto_frontier, plot_results, save_results, load_results)


def beta_quantile_by_quadrature(q, a, b, steps=3000):
    "Invert the Beta CDF by bisection on a midpoint-rule integral, with the substitution x = sin^2(t)."
    # With x = sin^2 t, dx = 2 sin t cos t dt and the x^(a-1)(1-x)^(b-1) singularities at 0 and 1 for a, b = 1/2
    # become the smooth 2 sin^(2a-1) t cos^(2b-1) t.
    logB = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    f = lambda t: 2 * math.sin(t) ** (2 * a - 1) * math.cos(t) ** (2 * b - 1) / math.exp(logB)
    def cdf(x):
        T = math.asin(math.sqrt(x)); h = T / steps
        return sum(f((i + 0.5) * h) for i in range(steps)) * h
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return (lo + hi) / 2


def test_jeffreys_interval_closed_form_no_samples():
    lo, hi = beta_interval(0, 0)                    # Beta(1/2, 1/2): quantile sin^2(pi q / 2)
    assert lo == pytest.approx(math.sin(0.05 * math.pi) ** 2, abs=1e-12)   # 0.0244717
    assert hi == pytest.approx(math.sin(0.45 * math.pi) ** 2, abs=1e-12)   # 0.9755283


@pytest.mark.parametrize('s,n', [(3, 4), (0, 10), (10, 10), (7.5, 20), (50, 100)])
def test_jeffreys_interval_against_quadrature(s, n):
    lo, hi = beta_interval(s, n)
    assert lo == pytest.approx(beta_quantile_by_quadrature(0.1, s + 0.5, n - s + 0.5), abs=2e-4)
    assert hi == pytest.approx(beta_quantile_by_quadrature(0.9, s + 0.5, n - s + 0.5), abs=2e-4)


def test_interval_clamps_sum_of_scores():
    assert beta_interval(12, 10) == beta_interval(10, 10)
    assert beta_interval(-1, 10) == beta_interval(0, 10)


def test_env_metrics_by_hand():
    m = env_metrics([0.5, 1.0, 0.0, 0.25])
    # mean 1.75/4; squared deviations .00390625 + .31640625 + .19140625 + .03515625 = .546875, /4 -> var .13671875
    assert m['n'] == 4
    assert m['mean'] == pytest.approx(0.4375)
    assert m['std'] == pytest.approx(math.sqrt(0.13671875))
    assert m['median'] == pytest.approx(0.375)
    assert m['accuracy'] == pytest.approx(0.25)        # only 1.0 is > 0.5
    assert m['success_rate'] == pytest.approx(0.75)    # three non-zero scores
    assert (m['ci_low'], m['ci_high']) == beta_interval(1.75, 4)


def test_weighted_aggregates_by_hand():
    per_env = {'a': env_metrics([1, 1, 1, 0]), 'b': env_metrics([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])}
    agg = aggregate(per_env)
    assert agg['n'] == 16
    assert agg['weighted_accuracy'] == pytest.approx((3 + 1) / 16)
    assert agg['weighted_mean_score'] == pytest.approx(4 / 16)
    assert agg['overall_success_rate'] == pytest.approx((0.75 + 1 / 12) / 2)
    assert (agg['best_env'], agg['worst_env']) == ('a', 'b')


def test_pareto_dominance_and_frontier():
    A = {'sat': 0.6, 'abd': 0.5, 'ded': 0.2}
    B = {'sat': 0.6, 'abd': 0.4, 'ded': 0.2}
    C = {'sat': 0.1, 'abd': 0.9, 'ded': 0.2}
    D = {'sat': 0.6, 'abd': 0.5, 'ded': 0.2}
    assert dominates(A, B) and not dominates(B, A)
    assert not dominates(A, D) and not dominates(D, A)       # equal is not dominance
    assert not dominates(A, C) and not dominates(C, A)
    assert dominates({'sat': 0.7}, {'sat': 0.6, 'other': 0.9})   # only shared environments count
    assert pareto_frontier({'A': A, 'B': B, 'C': C, 'D': D}) == ['A', 'C', 'D']


def test_comparison_rule_newer_must_clear_upper_bound():
    older = {'n': 100, 'ci_low': 0.45, 'ci_high': 0.55}
    assert env_winner({'n': 100, 'ci_low': 0.56, 'ci_high': 0.7}, older) == 'newer'
    assert env_winner({'n': 100, 'ci_low': 0.55, 'ci_high': 0.9}, older) == 'older'      # equal bound is not enough
    assert env_winner({'n': 100, 'ci_low': 0.50, 'ci_high': 0.6}, older, same_time=True) == 'tie'
    assert env_winner({'n': 100, 'ci_low': 0.10, 'ci_high': 0.2}, older, same_time=True) == 'older'
    assert env_winner({'n': 10, 'ci_low': 0.9, 'ci_high': 1.0}, older, min_samples=50) == 'older'
    assert env_winner({'n': 10, 'ci_low': 0.9, 'ci_high': 1.0}, {**older, 'n': 5}, min_samples=50) == 'tie'
    # 70/100 against 50/100: Beta(70.5, 30.5) 10% quantile ~0.64 > Beta(50.5, 50.5) 90% quantile ~0.56
    old = evaluate_scores({'x': [1] * 50 + [0] * 50, 'y': [1] * 50 + [0] * 50})
    new = evaluate_scores({'x': [1] * 70 + [0] * 30, 'y': [1] * 72 + [0] * 28})
    cmp = compare_models(new, old)
    assert cmp == {'per_env': {'x': 'newer', 'y': 'newer'}, 'newer_dominates': True, 'older_dominates': False}
    assert compare_models(old, new)['older_dominates']


def test_results_json_and_plot(tmp_path):
    models = {'m1': evaluate_scores({'x': [1, 0, 1]}), 'm2': evaluate_scores({'x': [0, 0, 1]})}
    path = save_results(tmp_path / 'results.json', models)
    doc = load_results(path)
    assert doc['pareto_frontier'] == ['m1'] and doc['models']['m2']['per_environment']['x']['n'] == 3
    json.loads(path.read_text())
    fig = plot_results(models)
    fig.savefig(tmp_path / 'plot.png')
    assert (tmp_path / 'plot.png').stat().st_size > 0
    (tmp_path / 'bad.json').write_text('{"x": 1}')
    with pytest.raises(ValueError, match="bad.json: no 'models' key"): load_results(tmp_path / 'bad.json')
