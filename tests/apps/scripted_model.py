"""A tiny real GPT-Neo whose weights are set by hand so that it answers every prompt with the same text.

Why: the end-to-end app tests run each app against a real `transformers serve`; a random model's output fails
every JSON app (the server ignores `response_format`), so exit code 0 and the output's shape could not be
checked. This model is still a plain `GPTNeoForCausalLM` with a tokenizer and a chat template, served and
decoded by the real server; only its answer is known in advance.

How: every transformer block adds nothing (output projections zero) and position embeddings are zero, so the
logits depend only on the current token: a bigram table. The answer is cut into pieces that each get their own
vocabulary entry; piece i is followed by piece i+1, the last piece by end-of-text, and every other token (the
prompt's last one) by the first piece. The tokenizer has no merges: prompts encode one token per byte, so any
prompt (Korean too) encodes, and decoding the pieces gives the answer back exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["ANSWER", "COMEDY_PICKS", "TASK", "save_scripted_model"]

COMEDY_PICKS = ["Home Alone", "Shaun of the Dead", "The Grand Budapest Hotel"]  # from the catalogue's comedies
TASK = {
    "instruction": "Name three animals that live in the ocean.",
    "input": "",
    "output": "Whale, shark and octopus.",
}
# One JSON object every JSON app accepts (pydantic ignores the keys a schema does not name): json-qa's answer,
# movie night's comedy picks, a self-instruct task and a judge's verdict.
ANSWER = json.dumps(
    {"answer": "Four", **TASK, "winner": "A", "reason": "Answer A is clearer.", "comedy": COMEDY_PICKS},
    ensure_ascii=False,
)

_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _pieces(text: str) -> list[str]:
    """`text` cut at word and punctuation boundaries into pieces that are all different."""
    parts = re.findall(r"\s*\w+|\s*[^\w\s]+|\s+", text)
    pieces: list[str] = []
    current = ""
    for part in parts:
        current += part
        if current not in pieces and len(current) > 1:
            pieces.append(current)
            current = ""
    if current:
        pieces[-1] += current
    assert "".join(pieces) == text and len(set(pieces)) == len(pieces)
    return pieces


def save_scripted_model(directory: Path, answer: str = ANSWER, max_positions: int = 8192) -> Path:
    """Save the scripted GPT-Neo and its tokenizer (with a chat template) to `directory`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPTNeoConfig, GPTNeoForCausalLM, PreTrainedTokenizerFast

    to_bytes = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    pieces = _pieces(answer)
    vocab: dict[str, int] = {}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    eos = "<|endoftext|>"
    vocab[eos] = len(vocab)
    piece_ids = []
    for piece in pieces:
        ((encoded, _),) = to_bytes.pre_tokenize_str(piece)  # the piece in byte-level characters
        assert encoded not in vocab, piece
        vocab[encoded] = len(vocab)
        piece_ids.append(vocab[encoded])
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = to_bytes
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([eos])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=eos, bos_token=eos, unk_token=eos, clean_up_tokenization_spaces=False
    )
    tokenizer.chat_template = _CHAT_TEMPLATE

    hidden = len(pieces) + 2 + len(pieces) % 2  # slot 0: "any other token"; even, for two heads
    config = GPTNeoConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_layers=1,
        num_heads=2,
        attention_types=[[["global"], 1]],
        max_position_embeddings=max_positions,
        bos_token_id=vocab[eos],
        eos_token_id=vocab[eos],
        tie_word_embeddings=False,
    )
    model = GPTNeoForCausalLM(config).eval()
    scale = 1000.0  # a margin no temperature a test uses can overturn
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        model.transformer.ln_f.weight.fill_(1.0)
        for block in model.transformer.h:  # layer norms of 1 keep the block well defined; it adds zero anyway
            block.ln_1.weight.fill_(1.0)
            block.ln_2.weight.fill_(1.0)
        wte, head = model.transformer.wte.weight, model.lm_head.weight
        wte[:, 0] = 1.0  # every token not a piece: slot 0
        for i, token in enumerate(piece_ids):
            wte[token, 0] = 0.0
            wte[token, i + 1] = 1.0
        head[piece_ids[0], 0] = scale  # after any other token: the first piece
        for i in range(1, len(piece_ids)):
            head[piece_ids[i], i] = scale  # after piece i-1 (slot i): piece i
        head[vocab[eos], len(piece_ids)] = scale  # after the last piece: end of text
    directory.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = vocab[eos]
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory

