"""LoRA adapters (peft) and the trained model the train stage writes to models/summarizer/: full weights, or
an adapter over a pretrained base.

An adapter holds only the low-rank updates, megabytes where the model is hundreds, so DVC pushes and
pulls little. Its adapter_config.json names the base checkpoint and revision it was trained on, from
which modeling.load_trained rebuilds the model: a local directory offline, a Hub id at that pinned
commit. Both kinds are written as safetensors."""

from pathlib import Path

from peft import LoraConfig, TaskType, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from summarization.config import Lora, Model
from summarization.errors import UserError, first_line
from summarization.outputs import atomic_dir


def with_lora(model: PreTrainedModel, cfg: Lora, base: Model) -> PreTrainedModel:
    """The model to train: itself (full fine-tuning), or its weights frozen with LoRA adapters that alone train."""
    if cfg.r is None:
        return model
    config = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM,
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
    )
    try:  # peft records the checkpoint the model was loaded from; the revision pins a Hub id
        return get_peft_model(model, config, revision=base.revision)
    except ValueError as error:  # no layer of that name, or a model type peft has no default for
        raise UserError(f"train.lora.target_modules: {first_line(error)}") from None


def save_trained(trainer: Trainer, tokenizer: PreTrainedTokenizerBase, directory: Path) -> None:
    """Write the trained weights (the adapter alone with LoRA) and the tokenizer to `directory`. Every process
    calls it: under FSDP the weights are gathered from all of them; process 0 writes."""
    weights = trainer.accelerator.get_state_dict(trainer.model)
    if not trainer.is_world_process_zero():
        return
    with atomic_dir(directory) as staging:
        # safetensors; Trainer.save_model would add a pickled training_args.bin
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(staging, state_dict=weights)
        tokenizer.save_pretrained(staging)
