"""Models: the embedded small T5, a local directory, or a Hub checkpoint at a pinned revision, loaded through
tokenizing.pretrained (weights as safetensors only; remote code never trusted); the attention they train with."""

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import (
    AttentionInterface,
    AttentionMaskInterface,
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    T5Config,
    T5ForConditionalGeneration,
)
from transformers.integrations import flex_attention
from transformers.masking_utils import eager_mask, flex_attention_mask

from summarization.config import EMBEDDED, EmbeddedModel, Model
from summarization.errors import UserError, first_line, reading, restore_hint
from summarization.tokenizing import from_checkpoint, pretrained

# transformers' FlexAttention with the position bias broadcast over the batch (flex_attention_forward below); the
# name holds "flex_attention" so that transformers checks the architecture supports it
FLEX_ATTENTION = "flex_attention_broadcast_bias"
# train.attention -> transformers' attention while fine-tuning. Trained models load with transformers' default,
# SDPA, which generates faster.
TRAINING_ATTENTION = {"eager": "eager", "sdpa": "sdpa", "flex": FLEX_ATTENTION}
ADAPTER_CONFIG = "adapter_config.json"  # peft's: the base checkpoint and revision, the adapted layers
PAD_TO_MULTIPLE_OF = 8  # tensor cores work on multiples of 8; length-sorted batches lose little to it


def load_model(cfg: Model, tokenizer: PreTrainedTokenizerBase, attention: str) -> PreTrainedModel:
    """The model to fine-tune: pretrained weights, or fresh weights for embedded / from_scratch, with `attention`
    (train.attention: eager, sdpa or flex)."""
    if cfg.checkpoint == EMBEDDED:
        model = T5ForConditionalGeneration(embedded_config(cfg.embedded, tokenizer))
    elif cfg.from_scratch:
        model = AutoModelForSeq2SeqLM.from_config(from_checkpoint(AutoConfig, cfg, "config"))
    else:
        model = from_checkpoint(AutoModelForSeq2SeqLM, cfg, "model")
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            raise UserError(
                f"model.checkpoint: {cfg.checkpoint} has {model.get_input_embeddings().num_embeddings} "
                f"embeddings but its tokenizer has {len(tokenizer)} tokens"
            )
    try:
        with attention_registered():  # transformers checks the name against its registry
            model.set_attn_implementation(TRAINING_ATTENTION[attention])
    except ValueError as error:  # an architecture without it (LED has neither SDPA nor flex)
        raise UserError(f"train.attention: {attention}: {first_line(error)}") from None
    dropout = getattr(model.config, "attention_dropout", getattr(model.config, "dropout_rate", 0.0))
    if attention == "flex" and dropout > 0:  # transformers would stop at the first step; training without it differs
        raise UserError(
            f"train.attention: flex has no attention dropout, and the model's ({cfg.checkpoint}) is "
            f"{dropout}: use eager or sdpa"
        )
    return model


def training_attention(attention: str) -> str:
    """train.attention, refused where it cannot train: flex on the CPU."""
    if attention == "flex" and not torch.cuda.is_available():
        raise UserError(
            "train.attention: flex needs a CUDA GPU to train (torch has no FlexAttention backward on the "
            "CPU): use eager or sdpa"
        )
    return attention


def flex_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask,
    position_bias: torch.Tensor | None = None,
    **kwargs,
):
    """transformers' FlexAttention, with T5's position bias broadcast over the batch: its score_mod indexes the bias
    by batch row, and T5's has one row for all (transformers 5.24: an IndexError on the CPU for 2 rows or more)."""
    if position_bias is not None:
        position_bias = position_bias.expand(query.shape[0], -1, -1, -1)  # a view: the gradient still sums over rows
    return flex_attention.flex_attention_forward(
        module, query, key, value, attention_mask, position_bias=position_bias, **kwargs
    )


@contextmanager
def generating_attention(model: PreTrainedModel) -> Iterator[None]:
    """A model fine-tuned with FlexAttention generates with eager attention meanwhile: generate's growing cache gives
    FlexAttention a new shape to compile at each token (on the CPU, torch 2.13's inductor fails to compile them)."""
    attention = model.config._attn_implementation
    if attention == FLEX_ATTENTION:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(attention)


def eager_mask_unskipped(*args, **kwargs) -> torch.Tensor:
    """transformers' mask for eager attention, made even for a batch without padding. transformers skips it then
    (None: no mask), and to know, reads `padding_mask.all()` at every encoder and cross-attention mask: a wait for
    the device, twice a step. A mask of zeros adds nothing to the scores: the same attention, exactly."""
    return eager_mask(*args, **kwargs | {"allow_is_bidirectional_skip": False})


@contextmanager
def attention_registered() -> Iterator[None]:
    """While in the block (a training run), transformers' attention registries hold FLEX_ATTENTION with the block
    masks FlexAttention takes, and eager attention's mask made even without padding; then what they held before,
    so that nothing changes at import nor after the run."""
    entries = [
        (AttentionInterface, FLEX_ATTENTION, flex_attention_forward),
        (AttentionMaskInterface, FLEX_ATTENTION, flex_attention_mask),
        (AttentionMaskInterface, "eager", eager_mask_unskipped),
    ]
    with ExitStack() as restore:
        for registry, name, function in entries:
            restore.enter_context(registry_entry(registry, name, function))
        yield


@contextmanager
def registry_entry(registry: type, name: str, function) -> Iterator[None]:
    """`name` registered class-wide as `function` in the block (transformers reads whether a mask function exists
    from the class-wide mapping alone), then as it was: register() has no inverse, so an entry that was not there
    is taken out of that mapping (private: summarization/private_hooks.py)."""
    mapping = registry._global_mapping
    before = mapping.get(name)
    registry.register(name, function)
    try:
        yield
    finally:
        if before is None:
            del mapping[name]
        else:
            registry.register(name, before)


def load_trained(directory: Path, missing_hint: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """A trained model and its tokenizer from a directory, the model on the device; `missing_hint` tells
    the user where a model comes from when the directory holds none."""
    require_trained(directory, missing_hint)
    with loading_trained(directory):
        tokenizer = pretrained(AutoTokenizer, directory)
        model = merged_adapter(directory) if is_adapter(directory) else pretrained(AutoModelForSeq2SeqLM, directory)
        if (directory / "generation_config.json").is_file():  # from_pretrained takes a damaged one for none, silently
            model.generation_config = pretrained(GenerationConfig, directory)
    return tokenizer, model.to(device())


@contextmanager
def loading_trained(directory: Path) -> Iterator[None]:
    """Loaders fail on a directory of another kind, a partial copy or cut-off files with many types (OSError,
    TypeError, SafetensorError, sentencepiece's...): one line naming the directory and how to bring it back."""
    try:
        yield
    except (UserError, MemoryError):
        raise
    except Exception as error:
        raise UserError(
            f"cannot load the model in {directory} ({first_line(error)}){restore_hint(directory)}"
        ) from None


# A tokenizer's own files: the fast one's (which save_pretrained always writes), or those it is converted from
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "sentencepiece.bpe.model", "vocab.json", "vocab.txt")


def require_trained(directory: Path, missing_hint: str) -> None:
    """A directory with a trained model's files, whole: the ones loaders would silently replace with defaults when
    missing (generation settings, tokenizer settings), and every JSON file parsing."""
    if not ((directory / "config.json").is_file() or is_adapter(directory)):
        raise UserError(f"{directory} holds no trained model: {missing_hint}")
    weights = "adapter_model.safetensors" if is_adapter(directory) else "model.safetensors"
    needed = ["tokenizer_config.json", weights] + ([] if is_adapter(directory) else ["generation_config.json"])
    if (index := directory / f"{weights}.index.json").is_file():  # weights in shards
        with reading(index):
            needed = [name for name in needed if name != weights] + sorted(
                set(json.loads(index.read_text())["weight_map"].values())
            )
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):  # else transformers suggests installs
        needed.append(TOKENIZER_FILES[0])
    for name in needed:
        if not (directory / name).is_file():
            raise UserError(
                f"{directory} has no {name}, which a trained model's directory holds"
                + (restore_hint(directory) or ": copy the whole directory again")
            )
    for path in sorted(directory.glob("*.json")):
        with reading(path):
            json.loads(path.read_text())
    for path in sorted(directory.glob("*.safetensors")):  # the header, and the file as long as it says
        with reading(path), safe_open(path, "pt"):
            pass


def is_adapter(directory: Path) -> bool:
    """Whether a trained model is a LoRA adapter (train.lora) rather than whole weights."""
    return (directory / ADAPTER_CONFIG).is_file()


def merged_adapter(directory: Path) -> PreTrainedModel:
    """A LoRA adapter merged into the base its config names: a local directory, or a Hub id at the pinned
    revision it was trained on (merged, it generates at the base model's speed)."""
    from peft import PeftConfig, PeftModel  # only adapters need it

    adapter = pretrained(PeftConfig, directory)
    base = Model.model_construct(checkpoint=adapter.base_model_name_or_path, revision=adapter.revision)
    model = from_checkpoint(AutoModelForSeq2SeqLM, base, "model")
    return pretrained(PeftModel, model, directory, config=adapter).merge_and_unload()


def embedded_config(cfg: EmbeddedModel, tokenizer: PreTrainedTokenizerBase) -> T5Config:
    return T5Config(
        vocab_size=len(tokenizer),
        d_model=cfg.d_model,
        d_ff=cfg.d_ff,
        d_kv=cfg.d_model // cfg.num_heads,
        num_layers=cfg.num_layers,
        num_decoder_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        dropout_rate=cfg.dropout_rate,
        feed_forward_proj="relu",
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )


def resolve_precision(precision: str) -> str:
    """auto is bf16 on GPUs that have it (T5 was pretrained in bf16; in fp16 its activations can overflow),
    fp16 on older GPUs, as the recipe trains, and fp32 on the CPU."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if precision in ("fp16", "bf16") and not cuda:
        raise UserError(f"train.precision: {precision} needs a CUDA GPU; use auto or fp32 on the CPU")
    return precision


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
