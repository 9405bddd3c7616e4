"""Tokenizers, and the loader every pretrained file goes through: the embedded word-level tokenizer trained on the
train split, or a checkpoint's (a local directory, or a Hub id at a pinned revision). Apart from modeling.py, whose
model classes preprocess, which only tokenizes, would import for seconds."""

from collections.abc import Iterable
from itertools import chain
from pathlib import Path

import pyarrow as pa
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from summarization.config import Model
from summarization.errors import UserError, existing, first_line, reading

SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]  # T5's ids: pad 0 (also the decoder start), eos 1, unk 2


def build_embedded_tokenizer(train: Iterable[pa.RecordBatch], prefix: str, vocab_size: int) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained on the train split's batches: each word and punctuation mark is one
    token, so the small model copies names and numbers whole, and "▁" marks keep spacing exact on decoding."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    # The vocabulary is the most frequent words, ties broken by the word: the order of texts does not matter.
    texts = chain([[prefix]], (batch.column(name).to_pylist() for batch in train for name in ("document", "summary")))
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def pretrained(loader, *args, **kwargs):
    """`loader.from_pretrained(*args, **kwargs)`, the package's one call of it (a test checks). A folder a colleague
    shares, or a Hub repo, may name Python files of its own (auto_map), which are never run nor asked about
    (transformers otherwise asks, and reads a yes from stdin, terminal or not): the class transformers has is used,
    or a one-line refusal.
    Weights load from safetensors only: a pickle can run code as it loads."""
    # The classes that read auto_map; the others (the generation config, peft's) read none and would keep the flag
    # as a setting of theirs, in the files export writes
    if loader in (AutoConfig, AutoTokenizer, AutoModelForSeq2SeqLM):
        kwargs |= {"trust_remote_code": False}
    if loader is AutoModelForSeq2SeqLM:
        kwargs |= {"use_safetensors": True}
    try:
        return loader.from_pretrained(*args, **kwargs)
    except ValueError as error:
        if "trust_remote_code" not in str(error):
            raise
        raise UserError(
            f"{args[-1]} names Python code of its own (auto_map in its config.json or tokenizer_config.json), "
            "which this project never runs: use a model saved with transformers' own classes"
        ) from None


def load_tokenizer(cfg: Model) -> PreTrainedTokenizerBase:
    """The tokenizer of a local or Hub checkpoint (the embedded one is built by preprocess instead)."""
    return from_checkpoint(AutoTokenizer, cfg, "tokenizer")


def read_tokenizer(tokenized_dir: Path) -> PreTrainedTokenizerBase:
    """The tokenizer that made the tokenized splits, which preprocess saves beside them."""
    path = existing(tokenized_dir / "tokenizer")
    with reading(path):
        return pretrained(AutoTokenizer, path, local_files_only=True)


def from_checkpoint(loader, cfg: Model, what: str):
    """`loader` (AutoTokenizer, AutoConfig, AutoModelForSeq2SeqLM) on the checkpoint, with one-line errors.

    An existing directory is read locally; anything else is a Hub id, fetched at model.revision."""
    local = Path(cfg.checkpoint).expanduser()
    if local.is_dir():
        source, kwargs = str(local), {"local_files_only": True}
    elif local.exists():
        raise UserError(
            f"model.checkpoint: {cfg.checkpoint} is a file: name the directory that holds it "
            "(config.json, the weights, the tokenizer)"
        )
    elif cfg.checkpoint.startswith((".", "/", "~")):
        raise UserError(f"model.checkpoint: no such directory {cfg.checkpoint}")
    else:
        source, kwargs = cfg.checkpoint, {"revision": cfg.revision}
    try:
        return pretrained(loader, source, **kwargs)
    except UserError as error:  # code of its own
        raise UserError(f"model.checkpoint: {error}") from None
    except (OSError, ValueError) as error:  # transformers reports missing files and offline Hub as OSError
        hint = "" if local.is_dir() else " (is the Hugging Face Hub reachable? a local directory works offline)"
        raise UserError(
            f"model.checkpoint: cannot load the {what} of {cfg.checkpoint}{hint}: {first_line(error)}"
        ) from None
