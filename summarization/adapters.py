"""LoRA adapters (peft): the train stage writes models/summarizer/ as full weights, or as an adapter over a
pretrained base (training.save_trained).

An adapter holds only the low-rank updates, megabytes where the model is hundreds, so DVC pushes and
pulls little. Its adapter_config.json names the base checkpoint and revision it was trained on, from
which modeling.load_trained rebuilds the model: a local directory offline, a Hub id at that pinned
commit. Both kinds are written as safetensors."""

from peft import LoraConfig, TaskType, get_peft_model
from transformers import PreTrainedModel

from summarization.config import Lora, Model
from summarization.errors import UserError, first_line


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
