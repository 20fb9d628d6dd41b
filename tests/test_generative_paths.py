"Flow-matching training times and solver grids from the config: `model.path.t_sampling` and `model.sampler.time_grid`."
import pytest
import torch

from research_kit.core.config import build_config
from research_kit.generative.paths import FlowMatchingPath, PathConfig
from research_kit.generative.samplers import ODESampler, SamplerConfig
from research_kit.generative.train import SMOKE, GenerativeConfig


def test_smoke_preset_trains_flow_matching_on_logit_normal_times():
    smoke = build_config(GenerativeConfig, {'smoke': SMOKE}, 'smoke')
    assert (smoke.model.path.t_sampling, smoke.model.path.t_mean, smoke.model.path.t_std) == ('logit_normal', 0.0, 1.0)
    assert build_config(GenerativeConfig).model.path.t_sampling == 'uniform'          # GPU defaults unchanged
    c = build_config(GenerativeConfig, {'smoke': SMOKE}, 'smoke', ['model.path.t_sampling=uniform',
                                                                   'model.sampler.time_grid=cosine'])
    assert (c.model.path.t_sampling, c.model.sampler.time_grid) == ('uniform', 'cosine')


def test_logit_normal_times_follow_the_config_and_the_generator():
    x1 = torch.randn(4096, 1, 2, 2)
    for mean, std in [(0.0, 1.0), (-1.0, 0.5)]:
        p = FlowMatchingPath(PathConfig(t_sampling='logit_normal', t_mean=mean, t_std=std))
        a, b = p.sample(x1, torch.Generator().manual_seed(0)), p.sample(x1, torch.Generator().manual_seed(0))
        assert torch.equal(a.t, b.t) and torch.equal(a.x_t, b.x_t)
        assert 0 < a.t.min() and a.t.max() < 1
        z = torch.logit(a.t)
        assert abs(z.mean() - mean) < 0.05 and abs(z.std() - std) < 0.05


def test_uniform_times_are_unchanged():
    "The default draws exactly what it drew before the option existed (old runs resume and validate the same)."
    x1 = torch.randn(16, 1, 2, 2)
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(x1.shape, generator=g); t = torch.rand(16, generator=g) * (1 - 1e-3)
    s = FlowMatchingPath(PathConfig()).sample(x1, torch.Generator().manual_seed(5))
    assert torch.equal(s.t, t) and torch.allclose(s.x_t, t[:, None, None, None] * x1 + (1 - t[:, None, None, None]) * x0)


@pytest.mark.parametrize('key, value', [('t_sampling', 'beta'), ('t_std', 0.0)])
def test_bad_time_options_fail_early(key, value):
    with pytest.raises(ValueError, match=key):
        FlowMatchingPath(PathConfig(**{key: value}))


def test_cosine_grid_solver_lands_on_a_constant_x1():
    x1 = torch.ones(2, 1, 4, 4).neg().index_fill_(-1, torch.tensor([1]), 1.0)
    # euler and midpoint never evaluate past t = 0.95 and land exactly; rk4's last stage at t = 1 uses the velocity
    # capped at t = 0.95 (`min_gap`), so it lands close
    for method, tol in [('euler', 1e-5), ('midpoint', 1e-5), ('rk4', 0.1)]:
        s = ODESampler(SamplerConfig(method=method, time_grid='cosine'), PathConfig(fm_prediction='x1'))
        out = s(lambda x, t: x1, torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)), 10)
        assert torch.allclose(out.x, x1, atol=tol) and out.nfe == 10 * {'euler': 1, 'midpoint': 2, 'rk4': 4}[method]


# Solvers on fields that depend on t (dx/dt = -x cannot tell at which times a solver evaluates its stages), in
# float64. dx/dt = t: x(1) = x(0) + 1/2, midpoint and rk4 are exact on it; dx/dt = x (1 + cos 3t):
# x(1) = x(0) exp(1 + sin(3) / 3).
import math

from research_kit.generative.samplers import ODE_BACKENDS

X0 = torch.ones(2, 1, 2, 2, dtype=torch.float64)
FIELDS = {'t': (lambda x, t: t * torch.ones_like(x), X0 + 0.5),
          'x(1+cos 3t)': (lambda x, t: x * (1 + torch.cos(3 * t)), X0 * math.exp(1 + math.sin(3) / 3))}
NOMINAL = {'euler': 1, 'midpoint': 2, 'rk4': 4}


def ode_error(field, steps, **cfg):
    f, exact = FIELDS[field]
    out = ODESampler(SamplerConfig(**cfg))(f, X0, steps)
    return (out.x - exact).abs().max().item(), out.nfe


def observed_order(field, steps, **cfg):
    "log2(err(h) / err(h/2)) at the finest pair of `steps` (each twice the last); inf when exact on the field."
    errs = [ode_error(field, n, **cfg)[0] for n in steps]
    return math.log2(errs[-2] / errs[-1]) if errs[-2] > 1e-12 else math.inf


@pytest.mark.parametrize('backend', ODE_BACKENDS)
@pytest.mark.parametrize('time_grid', ['uniform', 'cosine'])
@pytest.mark.parametrize('method', list(NOMINAL))
def test_fixed_step_solvers_have_their_order_on_time_dependent_fields(method, backend, time_grid):
    steps = [16, 32, 64] if method == 'rk4' else [32, 64, 128]
    for field in FIELDS:
        order = observed_order(field, steps, method=method, backend=backend, time_grid=time_grid)
        exact = field == 't' and method != 'euler'          # midpoint and rk4 integrate dx/dt = t exactly
        assert (exact and order == math.inf) or abs(order - NOMINAL[method]) < 0.2, (field, order)
    assert ode_error('t', 8, method=method, backend=backend, time_grid=time_grid)[1] == 8 * NOMINAL[method]


@pytest.mark.parametrize('backend', ODE_BACKENDS)
def test_one_rk4_step_on_dx_dt_equal_t_is_exact(backend):
    "The issue's example: torchdyn 1.0.6's own RungeKutta4 gives 0.25 here."
    out = ODESampler(SamplerConfig(method='rk4', backend=backend))(lambda x, t: t * torch.ones_like(x), torch.zeros(1), 1)
    assert abs(out.x.item() - 0.5) < 1e-6 and out.nfe == 4


@pytest.mark.parametrize('backend', ODE_BACKENDS)
def test_dopri5_meets_its_tolerance_on_time_dependent_fields(backend):
    last = {}
    for tol in (1e-5, 1e-7, 1e-9):
        for field, (_, exact) in FIELDS.items():
            err, nfe = ode_error(field, 0, method='dopri5', backend=backend, atol=tol, rtol=tol)
            assert err < 10 * tol * (1 + exact.abs().max().item()), (field, tol, err)
            assert nfe >= last.get(field, 0)        # a tighter tolerance never costs fewer evaluations
            last[field] = nfe


@pytest.mark.parametrize('key, cfg', [('model.sampler.method', dict(method='tsit5')),
                                      ('model.sampler.backend', dict(backend='torchdiffeq'))])
def test_unknown_solver_is_refused_naming_the_key_and_choices(key, cfg):
    with pytest.raises(ValueError, match=key + r".*\['"):
        ODESampler(SamplerConfig(**cfg))
