"""The training path shared by the train stage and the benchmark: Seq2SeqTrainer's arguments and collator
as the train section of params.yaml sets them. bench/throughput.py measures each choice against the recipe."""
from pathlib import Path

from accelerate.utils import gather_object
from transformers import (DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase, Seq2SeqTrainer,
                          Seq2SeqTrainingArguments)
from transformers.modelcard import make_markdown_table, parse_log_history
from transformers.trainer_utils import EvalLoopOutput

from summarization import memory, modeling, rouge
from summarization.cli import on_terminal
from summarization.config import Train
from summarization.evaluation import score_summaries
from summarization.generation import generate_summaries

EVALUATION_BOOTSTRAP_SAMPLES = 1000  # only the middle estimate is logged during training


def arguments(cfg: Train, precision: str, output_dir: Path, **overrides) -> Seq2SeqTrainingArguments:
    """Trainer arguments from params.yaml; `overrides` (the benchmark's) replace any of them."""
    cpu = modeling.device().type == "cpu"
    return Seq2SeqTrainingArguments(**{
        "output_dir": str(output_dir), **checkpoint_schedule(cfg), "save_total_limit": 1,
        "disable_tqdm": not on_terminal(),
        "report_to": "none",  # the train stage adds DVCLive itself, configured, and only once
        "learning_rate": cfg.learning_rate, "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps, "num_train_epochs": cfg.num_train_epochs,
        "weight_decay": cfg.weight_decay, "warmup_steps": cfg.warmup_steps, "lr_scheduler_type": cfg.lr_scheduler_type,
        "optim": cfg.optim, "train_sampling_strategy": sampling_strategy(cfg),
        "fp16": precision == "fp16", "bf16": precision == "bf16",
        "eval_strategy": cfg.eval_strategy, "eval_steps": cfg.eval_steps,
        "per_device_eval_batch_size": cfg.per_device_eval_batch_size,
        "generation_max_length": cfg.generation_max_length, "generation_num_beams": cfg.generation_num_beams,
        "load_best_model_at_end": cfg.load_best_model_at_end, "metric_for_best_model": cfg.metric_for_best_model,
        "use_cpu": cpu,  # also makes torchrun on CPUs use DDP over gloo
        "dataloader_pin_memory": not cpu, "logging_steps": cfg.logging_steps, "seed": cfg.seed,
        "average_tokens_across_devices": False,  # with it, DDP logs the loss times the number of processes
        **memory.trainer_arguments(cfg, cpu),
    } | overrides)


def sampling_strategy(cfg: Train) -> str:
    """Trainer's name for how batches are drawn: grouped by length, or at random as the recipe does."""
    return "group_by_length" if cfg.group_by_length else "random"


def collator(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
             pad_to_multiple_of: int | None = modeling.PAD_TO_MULTIPLE_OF) -> DataCollatorForSeq2Seq:
    """Pads each batch to its longest row (labels with -100, ignored by the loss)."""
    return DataCollatorForSeq2Seq(tokenizer, model=model, pad_to_multiple_of=pad_to_multiple_of)


def checkpoint_schedule(cfg: Train) -> dict:
    """Every save_steps; but to keep the best evaluation's weights, transformers checkpoints at each
    evaluation (it keeps the best checkpoint beside the last)."""
    if cfg.load_best_model_at_end:
        return {"save_strategy": cfg.eval_strategy, "save_steps": cfg.eval_steps}
    return {"save_strategy": "steps", "save_steps": cfg.save_steps}


class SummarizationTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer whose evaluations add ROUGE and gen_len to the validation loss, generated and scored
    as the evaluate stage does, so the per-epoch table, the best model and early stopping follow its protocol."""

    def __init__(self, *args, references: list[str], precision: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.references, self.precision = references, precision  # of the rows of eval_dataset, in order

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval") -> EvalLoopOutput:
        output = super().evaluation_loop(dataloader, description, True, ignore_keys, metric_key_prefix)  # the loss
        # Each process summarizes its share of the rows; every process scores the gathered whole, so all
        # agree on the best model and on stopping early.
        rows = range(self.args.process_index, len(self.eval_dataset), self.args.world_size)
        predictions, lengths = generate_summaries(
            self.model, self.processing_class, [self.eval_dataset[row]["input_ids"] for row in rows],
            self.args.per_device_eval_batch_size, self.args.generation_max_length, self.args.generation_num_beams,
            self.precision)
        _, predictions, lengths = zip(*sorted(gather_object(list(zip(rows, predictions, lengths, strict=True)))))
        _, scores = score_summaries(list(predictions), list(lengths), self.references, EVALUATION_BOOTSTRAP_SAMPLES)
        output.metrics.update({f"{metric_key_prefix}_{name}": scores[name] for name in (*rouge.ROUGE_TYPES, "gen_len")})
        return output


def evaluation_table(log_history: list[dict]) -> str:
    """The recipe's table, one row an evaluation: training and validation loss, ROUGE, gen_len (transformers'
    own model-card table)."""
    _, rows, _ = parse_log_history(log_history)
    return make_markdown_table(rows) if rows else "No evaluation during training (train.eval_strategy: no).\n"
