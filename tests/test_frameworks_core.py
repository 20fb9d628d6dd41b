"Frameworks pipeline: the original's silent training bugs stay fixed, and every framework trains a step."
import math

import numpy as np
import pytest
import torch

from research_kit.frameworks import game as G
from research_kit.frameworks.render import render
from research_kit.frameworks.image_to_settings import agent_info, gold_info
from research_kit.frameworks.player import AgentPlayer, PlayerConfig, TINY_PLAYER, FROM_SCRATCH, load_lm
from research_kit.frameworks.general import FRAMEWORKS, encode, text_loss, get_images, qa_pattern_a
from research_kit.frameworks.qa import GOLD_LR, YES, NO
import research_kit.frameworks.training  # noqa: F401  (registers every framework)

SEED_FRAMEWORKS = ['control', 'arrow_to_gold', 'position_qa', 'blue_line_qa', 'gold_direction_qa', 'near_gold_qa',
                   'relposition_qa', 'please_turn_qa', 'direction_names', 'imagine_without_you', 'imagine_without_gold',
                   'imagine_without_walls', 'imagine_walls_only', 'imagine_facing_gold', 'imagine_closer_to_gold',
                   'imagine_after_move', 'mem_canvas_use', 'zoom_agent', 'zoom_gold', 'zoom_halfway', 'comparison_v1',
                   'complex_loss_v1']


@pytest.fixture(scope='module')
def player():
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    torch.manual_seed(0)
    yield AgentPlayer(PlayerConfig(**TINY_PLAYER, **FROM_SCRATCH))
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def tok():
    return load_lm('tiny')[1]


def test_registry_has_every_seed_framework():
    assert set(SEED_FRAMEWORKS) <= set(FRAMEWORKS)


@pytest.mark.parametrize('answer', ['Left', 'No', 'Up', '1', '<clock>'])
def test_one_word_answers_are_kept_and_carry_loss(tok, answer):
    tb = encode(tok, ['Is the gold to the left or to the right of you?', 'Short?'], [answer, 'It is a longer reply.'])
    ans_ids = tb.labels[0][tb.answer_mask[0]]
    assert tok.decode(ans_ids).strip() == answer + '<|im_end|>'
    assert (ans_ids != -100).all()
    # the loss reacts to the answer tokens: logits that put all mass on them lower the answer loss to ~0
    V = len(tok)
    logits = torch.zeros(2, tb.input_ids.shape[1], V, requires_grad=True)
    text_loss(logits, tb).backward()
    answer_positions = tb.answer_mask[0].nonzero()[:, 0] - 1     # logits at t predict token t+1
    assert logits.grad[0, answer_positions].abs().sum() > 0


def test_pad_is_the_real_pad_token_and_masked(tok):
    tb = encode(tok, ['Hi', 'A much longer prompt'], ['Yes', 'No'])
    pads = tb.attention_mask == 0
    assert pads.any() and (tb.input_ids[pads] == tok.pad_token_id).all() and (tb.labels[pads] == -100).all()
    assert tok.pad_token == '<|endoftext|>' and tok.pad_token_id != tok.convert_tokens_to_ids('!')
    logits = torch.randn(2, tb.input_ids.shape[1], len(tok))
    changed = logits.clone(); changed[pads] = torch.randn_like(changed[pads]) * 10
    assert torch.allclose(text_loss(logits, tb), text_loss(changed, tb))   # what happens on padding does not count


def test_qa_batch_labels_hold_the_answers(player):
    rng = np.random.default_rng(0)
    g = G.settings_batch(4, rng)
    prompts, answers, labels = GOLD_LR.rows(g, rng)
    tb = encode(player.tokenizer, prompts, answers)
    for i, a in enumerate(answers):
        assert player.tokenizer.decode(tb.labels[i][tb.answer_mask[i]]) == ' ' + a + '<|im_end|>'


def test_ignore_flags_do_not_crash_and_work():
    s = G.Settings(agent_x=0.5, agent_y=0.5, gold=[[0.7, 0.7]], walls=[[0, 0, 1, 0.0625, 0]])
    full = get_images([s])
    for flag in ('ignore_agent', 'ignore_gold', 'ignore_walls'):
        assert not torch.equal(get_images([s], **{flag: True}), full)


def test_rendered_agent_recovers_its_position_no_transpose():
    s = G.Settings(agent_x=0.25, agent_y=0.7, direction=math.pi / 2, gold=[[0.8, 0.2]])
    img = render([s], 224)
    center, radius, heading, found = agent_info(img)
    assert found.all()
    assert torch.allclose(center[0], torch.tensor([0.25, 0.7]), atol=1.5 / 224)   # x from columns, y from rows
    assert abs(float(heading[0]) - math.pi / 2) < 0.1                               # facing down the screen
    gc, _, _ = gold_info(img)
    assert torch.allclose(gc[0], torch.tensor([0.8, 0.2]), atol=1.5 / 224)


@pytest.mark.parametrize('name', SEED_FRAMEWORKS)
def test_every_framework_trains_a_step(player, name):
    opt = torch.optim.SGD([p for p in player.parameters() if p.requires_grad], lr=1e-3)
    before = {n: p.detach().clone() for n, p in player.named_parameters() if n.startswith(('encoder.patch', 'lm.'))}
    losses = FRAMEWORKS[name].public(5, player, opt, compute_grad=True, training=True, model_eval=False, printing=False)
    assert len(losses) >= 2 and all(np.isfinite(losses))
    moved = [n for n, p in player.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert moved, f'{name}: no parameter changed'
    assert player.canvases == []   # reset_model=True


@pytest.mark.parametrize('pred,game,expected', [
    (G.facing_gold, G.Settings(direction=0.0, gold=[[0.8, 0.52]]), True),
    (G.facing_gold, G.Settings(direction=math.pi, gold=[[0.8, 0.5]]), False),
    (G.near_gold, G.Settings(gold=[[0.6, 0.5]]), True),
    (G.near_gold, G.Settings(gold=[[0.66, 0.5]]), False),
    (G.facing_line, G.Settings(direction=0.0, line=(0.5, 0.1)), True),
    (G.facing_line, G.Settings(direction=0.0, line=(0.6, 0.1)), False),
    (lambda s: G.turn_clockwise(s.direction, G.gold_angle(s)), G.Settings(direction=0.0, gold=[[0.5, 0.9]]), True),
    (lambda s: G.best_move(s), G.Settings(direction=0.0, gold=[[0.5, 0.1]]), G.ANTICLOCK),
    (lambda s: G.moves_to_gold(s), G.Settings(direction=0.0, gold=[[0.8, 0.5]]), 4),
])
def test_predicates(pred, game, expected):
    assert pred(game) == expected


@pytest.mark.parametrize('name', SEED_FRAMEWORKS)
def test_each_framework_runs_at_its_declared_min_batch(player, name):
    "`min_batch` is what FrameworksConfig checks batch_size against: the framework must run at it, and not below."
    fw = FRAMEWORKS[name]
    losses = fw.public(fw.min_batch, player, printing=False)
    assert all(np.isfinite(losses))
    if fw.min_batch > 1:
        with pytest.raises(ValueError, match='smaller than the'): fw.public(fw.min_batch - 1, player, printing=False)
