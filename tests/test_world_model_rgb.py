"""RGB gradient balancing: no conflict with any task when tasks conflict, the plain mean when they agree, plain
summation for comparison, and RGB on the real (tiny) world model."""
import math

import pytest
import torch

from research_kit.world_model.rgb import RGB, gradient_stats, sum_backward, task_gradients

torch.set_num_threads(1)


def rgb_for(params, **kw):
    rgb = RGB(**kw)
    rgb.task_num, rgb.device, rgb.rep_grad = 3, 'cpu', False
    rgb.get_share_params = lambda: params
    return rgb


def conflicting(seed, D=128, scales=(200.0, 1.0, 0.3)):
    "Three tasks 120 degrees apart in a random plane, with task-specific noise and very different scales."
    g = torch.Generator().manual_seed(seed)
    plane = torch.linalg.qr(torch.randn(D, 2, generator=g))[0].t()
    angles = torch.tensor([0.0, 2.094, 4.189]) + 0.3 * (torch.rand(3, generator=g) - 0.5)
    G = torch.stack([torch.cos(angles), torch.sin(angles)], 1) @ plane + 0.6 * torch.randn(3, D, generator=g) / math.sqrt(D)
    return G / G.norm(dim=1, keepdim=True) * torch.tensor(scales)[:, None]


@pytest.mark.parametrize('seed', range(10))
def test_balanced_update_conflicts_with_no_task(seed):
    G = conflicting(seed)
    unit = G / G.norm(dim=1, keepdim=True)
    assert (unit @ unit.t())[~torch.eye(3, dtype=bool)].max() < 0          # every pair conflicts
    assert ((G @ G.sum(0)) < 0).any()                                       # the plain sum fights some task
    x = torch.nn.Parameter(torch.zeros(G.shape[1]))
    rgb = rgb_for([x])
    for _ in range(4):                                                      # also with the consensus and angles warm
        x.grad = None
        rgb.backward([(g * x).sum() for g in G])
        assert ((G @ x.grad) >= 0).all(), (G @ x.grad)


def test_reduces_to_the_plain_mean_when_tasks_agree():
    torch.manual_seed(0)
    x = torch.nn.Parameter(torch.randn(50))
    u = torch.randn(50)
    scales = (0.5, 3.0, 10.0)
    rgb_for([x]).backward([c * (u * x).sum() for c in scales])
    torch.testing.assert_close(x.grad, u * sum(scales) / 3)
    # rescale=False is the seed's behaviour: the unit consensus direction
    x.grad = None
    rgb_for([x], rescale=False).backward([c * (u * x).sum() for c in scales])
    torch.testing.assert_close(x.grad, u / u.norm())


def test_plain_summation_and_task_gradients_on_two_parameters():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    losses = lambda: [(a * torch.tensor([1., 2., 3.])).sum(), (b ** 2).sum() + a.sum()]
    G = task_gradients(losses(), [a, b])
    torch.testing.assert_close(G, torch.tensor([[1., 2., 3., 0., 0.], [1., 1., 1., 2., 2.]]))
    assert a.grad is None and b.grad is None
    sum_backward(losses())
    torch.testing.assert_close(a.grad, torch.tensor([2., 3., 4.]))
    s = gradient_stats(G, ['x', 'y'])
    assert set(s) == {'grad_norm/x', 'grad_norm/y', 'grad_cos/x-y'} and 0 < s['grad_cos/x-y'] < 1


def test_rgb_refuses_a_wrong_setup():
    x = torch.nn.Parameter(torch.zeros(3))
    rgb = RGB(); rgb.task_num = 3
    with pytest.raises(ValueError, match='get_share_params'): rgb.backward([x.sum()] * 3)
    rgb.get_share_params = lambda: [x]
    with pytest.raises(ValueError, match='task_num is 3'): rgb.backward([x.sum()] * 2)
    with pytest.raises(TypeError, match='unknown setting'): rgb.backward([x.sum()] * 3, muu=0.5)


def test_rgb_on_the_world_model_updates_every_parameter():
    from research_kit.world_model.losses import LossAggregator
    from research_kit.world_model.model import TINY, DPGMMVariationalRecurrentAutoencoder
    torch.manual_seed(0)
    model = DPGMMVariationalRecurrentAutoencoder(**TINY)
    out = model.forward_sequence(torch.rand(2, 3, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 6) * 2 - 1)
    _, tasks = LossAggregator().compute_losses(out, beta=1.0)
    params = list(model.parameters())
    rgb = rgb_for(params)
    rgb.backward(tasks)
    G = rgb.last_grads
    flat = torch.cat([p.grad.flatten() for p in params])
    assert G.shape == (3, flat.numel()) and torch.isfinite(flat).all()
    assert ((G @ flat) >= 0).all(), G @ flat
