"""The training path shared by the train stage and the benchmark: Seq2SeqTrainer's arguments and collator
as the train section of params.yaml sets them. bench/throughput.py measures each choice against the recipe."""
from pathlib import Path

from transformers import (DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase,
                          Seq2SeqTrainingArguments)

from summarization import modeling
from summarization.cli import on_terminal
from summarization.config import Train


def arguments(cfg: Train, precision: str, output_dir: Path, **overrides) -> Seq2SeqTrainingArguments:
    """Trainer arguments from params.yaml; `overrides` (the benchmark's) replace any of them."""
    cpu = modeling.device().type == "cpu"
    return Seq2SeqTrainingArguments(**{
        "output_dir": str(output_dir), "save_strategy": "steps", "save_steps": cfg.save_steps, "save_total_limit": 1,
        "disable_tqdm": not on_terminal(),
        "report_to": "none",  # the train stage adds DVCLive itself, configured, and only once
        "learning_rate": cfg.learning_rate, "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps, "num_train_epochs": cfg.num_train_epochs,
        "weight_decay": cfg.weight_decay, "warmup_steps": cfg.warmup_steps, "lr_scheduler_type": cfg.lr_scheduler_type,
        "optim": cfg.optim, "train_sampling_strategy": sampling_strategy(cfg),
        "fp16": precision == "fp16", "bf16": precision == "bf16",
        "use_cpu": cpu,  # also makes torchrun on CPUs use DDP over gloo
        "dataloader_pin_memory": not cpu, "logging_steps": cfg.logging_steps, "seed": cfg.seed,
        "average_tokens_across_devices": False,  # with it, DDP logs the loss times the number of processes
    } | overrides)


def sampling_strategy(cfg: Train) -> str:
    """Trainer's name for how batches are drawn: grouped by length, or at random as the recipe does."""
    return "group_by_length" if cfg.group_by_length else "random"


def collator(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
             pad_to_multiple_of: int | None = modeling.PAD_TO_MULTIPLE_OF) -> DataCollatorForSeq2Seq:
    """Pads each batch to its longest row (labels with -100, ignored by the loss)."""
    return DataCollatorForSeq2Seq(tokenizer, model=model, pad_to_multiple_of=pad_to_multiple_of)
