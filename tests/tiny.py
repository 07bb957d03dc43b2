"""Builders for tiny, random, real Hugging Face models used across the tests (no download, a few MB)."""

from __future__ import annotations

from pathlib import Path

# A little English and Korean text so the byte-level BPE learns some merges for both.
_CORPUS = [
    "Describe a perfect day in Paris. The sun rises over the Seine and we walk to a cafe.",
    'Return a JSON object with an answer key: {"answer": 4, "genres": ["action", "comedy"]}',
    "What movie genres do you like? I like science fiction, horror and romance movies.",
    "sea otter => loutre de mer, peppermint => menthe poivrée, plush girafe => girafe peluche",
    "당신이 좋아하는 영화 장르는 무엇인가요? 저는 액션과 코미디 영화를 좋아해요.",
    "System: You are a helpful assistant.\nUser: Hello!\nAssistant: Hi, how can I help?",
] * 4

# A minimal ChatML-like template for servers that require one (transformers serve); written by us.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer(vocab_size: int = 400):  # type: ignore[no-untyped-def]
    """A byte-level BPE tokenizer trained in-process on a few lines (handles any UTF-8, Korean included)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


def tiny_gpt_neo(seed: int = 0, max_positions: int = 512):  # type: ignore[no-untyped-def]
    """A random `GPTNeoForCausalLM` and its tokenizer (GPT-Neo has no chat template, like the real one)."""
    import torch
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    tokenizer = tiny_tokenizer()
    config = GPTNeoConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        attention_types=[[["global", "local"], 1]],
        max_position_embeddings=max_positions,
        window_size=64,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = GPTNeoForCausalLM(config).eval()
    return model, tokenizer


def save_tiny_gpt_neo(
    directory: Path, *, chat_template: bool = False, seed: int = 0, max_positions: int = 512
) -> Path:
    """Save a tiny GPT-Neo (and tokenizer) to `directory`; optionally with a chat template for servers."""
    model, tokenizer = tiny_gpt_neo(seed=seed, max_positions=max_positions)
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
