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
