"""Agent environments: every expert succeeds on seeded episodes, hostile actions never crash an environment,
episodes are well formed and reproducible, and parallel stepping works and cleans up after itself.

The fast tests play 5 seeded episodes per environment (3 for ScienceWorld, whose Java server is slow to start);
the `slow` ones play the 20 seeded episodes of the done-when criterion (expert success of at least 80%)."""
import random

import pytest

from research_kit.affine.environments import (ENVIRONMENTS, ParallelEnvs, check_episode, collect_expert_episodes,
                                          make_env, run_episode, success_rate)
from research_kit.affine.sciworld import java_available

FAST = ['babyai', 'textcraft', 'webshop', 'household']
needs_java = pytest.mark.skipif(not java_available(), reason='ScienceWorld needs Java (CI installs it)')

HOSTILE = ['', '   ', 'xyzzy', 'click[', 'search[', 'click[]', 'search[]', 'craft using', 'get -1 stick',
           'get 99999999999999999999 oak logs', 'go', '\x00\x01', 'ä' * 50, 'a' * 5000, 'go to [',
           'open the door to the moon', 'craft 1 stick using 2', 'put', 'take', '1', '0']


@pytest.fixture(scope='module')
def household_cache(tmp_path_factory):
    return tmp_path_factory.mktemp('household-games')


def env_kwargs(name, household_cache):
    return {'cache_dir': household_cache} if name == 'household' else {}


@pytest.fixture(scope='module')
def sciworld():
    if not java_available(): pytest.skip('ScienceWorld needs Java (CI installs it)')
    env = make_env('sciworld')
    yield env
    env.close()


def expert_episodes(env, seeds):
    return [check_episode(run_episode(env, seed=s), f'{env.name} seed {s}') for s in seeds]


@pytest.mark.parametrize('name', FAST)
def test_expert_succeeds_on_5_seeds(name, household_cache):
    with make_env(name, **env_kwargs(name, household_cache)) as env:
        eps = expert_episodes(env, range(5))
    assert success_rate(eps) >= 0.8, [(e['metadata'], e['actions']) for e in eps if not e['metadata']['success']]
    for ep in eps:
        assert ep['environment'] == name and ep['dones'][-1] and ep['metadata']['seed'] in range(5)
        if ep['metadata']['success']: assert ep['rewards'][-1] > 0


@needs_java
def test_sciworld_expert_succeeds_on_3_seeds(sciworld):
    eps = expert_episodes(sciworld, range(3))
    assert success_rate(eps) == 1.0, [e['metadata'] for e in eps]


@pytest.mark.slow
@pytest.mark.parametrize('name', ['babyai', 'textcraft', 'webshop', 'household', 'sciworld'])
def test_expert_succeeds_on_80_percent_of_20_seeds(name, household_cache):
    if name == 'sciworld' and not java_available(): pytest.skip('no Java')
    eps = collect_expert_episodes(name, 20, seed=0, workers=2, **env_kwargs(name, household_cache))
    assert [e['metadata']['seed'] for e in eps] == list(range(20))
    for e in eps: check_episode(e)
    assert success_rate(eps) >= 0.8, [e['metadata'] for e in eps if not e['metadata']['success']]


@pytest.mark.parametrize('name', FAST)
def test_hostile_actions_get_a_clear_observation(name, household_cache):
    with make_env(name, **env_kwargs(name, household_cache)) as env:
        env.reset(seed=1)
        for action in HOSTILE:
            obs, reward, done, info = env.step(action)
            assert isinstance(obs, str) and obs
            assert set(info) >= {'valid_actions', 'success', 'won', 'invalid'}
            if info['invalid']:
                assert obs.startswith('Invalid action') and reward == 0.0
            if done: env.reset(seed=1)


@needs_java
def test_sciworld_hostile_actions(sciworld):
    sciworld.reset(seed=0)
    for action in HOSTILE:
        obs, reward, done, info = sciworld.step(action)
        assert isinstance(obs, str) and obs and not info['success']
        if done: sciworld.reset(seed=0)


@pytest.mark.parametrize('name', FAST)
def test_random_policy_never_crashes(name, household_cache):
    rng = random.Random(0)
    def policy(env, obs, valid):
        return rng.choice(valid) if valid and rng.random() < 0.8 else rng.choice(HOSTILE)
    with make_env(name, max_steps=15, **env_kwargs(name, household_cache)) as env:
        for seed in range(3):
            ep = check_episode(run_episode(env, policy, seed=seed))
            assert ep['episode_length'] <= 15


@pytest.mark.parametrize('name', FAST)
def test_the_same_seed_gives_the_same_episode(name, household_cache):
    a = make_env(name, **env_kwargs(name, household_cache))
    b = make_env(name, **env_kwargs(name, household_cache))
    try:
        assert run_episode(a, seed=3) == run_episode(b, seed=3)
        assert a.reset(seed=4)[0] != a.reset(seed=5)[0]
    finally:
        a.close(); b.close()


@pytest.mark.parametrize('name', FAST)
def test_shaped_rewards_follow_the_seed(name, household_cache):
    with make_env(name, shaped_rewards=True, **env_kwargs(name, household_cache)) as env:
        ep = run_episode(env, seed=2)
    assert ep['metadata']['success'] and ep['rewards'][-1] == 1.0
    if name == 'webshop': assert ep['rewards'][0] == 0.1 and set(ep['rewards'][1:-1]) <= {0.3}
    else: assert set(ep['rewards'][:-1]) <= {env.step_bonus}


def test_collect_with_processes_matches_one_process():
    one = collect_expert_episodes('webshop', 6, seed=10, workers=1)
    two = collect_expert_episodes('webshop', 6, seed=10, workers=2)
    assert one == two and [e['metadata']['seed'] for e in two] == list(range(10, 16))


def test_unknown_environment_is_refused():
    with pytest.raises(KeyError, match="'alfworld' is not registered"): make_env('alfworld')
    with pytest.raises(KeyError, match='choose one of'): collect_expert_episodes('alfworld', 2)
    with pytest.raises(KeyError, match='choose one of'): ParallelEnvs('alfworld', 2)
    assert sorted(ENVIRONMENTS) == ['babyai', 'household', 'lineworld', 'sciworld', 'textcraft', 'webshop']


def test_parallel_envs_step_to_the_end_and_clean_up():
    envs = ParallelEnvs('babyai', 3)
    procs = list(envs.procs)
    try:
        firsts = envs.reset([0, 1, 2])
        assert [len(v) for _, v in firsts] == [7, 7, 7]
        done, won = [False] * 3, [False] * 3
        for _ in range(64):
            actions = [a if not d else None for a, d in zip(envs.expert_actions(), done)]
            for i, out in enumerate(envs.step(actions)):
                if out is not None: done[i], won[i] = out[2], out[3]['won']
            if all(done): break
        assert all(won)
        with pytest.raises(ValueError, match='expected 3 entries'): envs.step(['go forward'])
        obs, reward, d, info = envs.step(['fly', None, None])[0]
        assert obs.startswith('The episode is over')
        envs.reset([5, None, None])
        obs, reward, d, info = envs.step(['fly', None, None])[0]
        assert info['invalid'] and obs.startswith("Invalid action 'fly'")
    finally:
        envs.close()
    assert not any(p.is_alive() for p in procs)
    with pytest.raises(RuntimeError, match='closed'): envs.step([None] * 3)


def test_parallel_worker_errors_come_back_with_the_traceback():
    with ParallelEnvs('webshop', 2) as envs:
        with pytest.raises(RuntimeError, match='call reset'): envs.step(['search[mug]', None])
        envs.reset([0, 1])                     # the workers survive an error
        assert len(envs.expert_actions()) == 2
    with pytest.raises(RuntimeError, match='worker 0 failed'):
        ParallelEnvs('webshop', 1, n_products=-5)
