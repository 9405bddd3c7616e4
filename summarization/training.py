"""The training path shared by the train stage and the benchmark: Seq2SeqTrainer's arguments and collator
as the train section of params.yaml sets them (bench/throughput.py measures each choice against the recipe),
and the train stage's Trainer: it evaluates as the evaluate stage does, stops a diverged run, and a run
killed at any step resumes from its last checkpoint to the same model, loss and curves as an uninterrupted one."""
import math
from pathlib import Path

import torch
from accelerate.utils import gather_object
from dvclive import Live
from transformers import (DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase, Seq2SeqTrainer,
                          Seq2SeqTrainingArguments, TrainerCallback)
from transformers.integrations import DVCLiveCallback
from transformers.modelcard import make_markdown_table, parse_log_history
from transformers.trainer_callback import TrainerState
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import EvalLoopOutput, IntervalStrategy, SaveStrategy

from summarization import data, memory, modeling, rouge
from summarization.cli import UserError, on_terminal, warn
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
        "load_best_model_at_end": cfg.load_best_model_at_end,
        "metric_for_best_model": cfg.metric_for_best_model if cfg.load_best_model_at_end else None,
        "use_cpu": cpu,  # also makes torchrun on CPUs use DDP over gloo
        "dataloader_pin_memory": not cpu, "logging_steps": cfg.logging_steps, "seed": cfg.seed,
        "logging_nan_inf_filter": False,  # a NaN loss must show in the logs (DivergenceGuard), not be averaged away
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
    """The checkpoints transformers takes itself: at each evaluation when it keeps the best one's weights (it
    requires that schedule then), else every save_steps. CompleteCheckpoints adds one every save_steps in both
    cases; save_total_limit 1 keeps the last checkpoint and the best evaluation's."""
    if cfg.load_best_model_at_end:
        return {"save_strategy": cfg.eval_strategy, "save_steps": cfg.eval_steps}
    return {"save_strategy": "steps", "save_steps": cfg.save_steps}


class SummarizationTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer whose evaluations add ROUGE and gen_len to the validation loss, generated and scored as
    the evaluate stage does (so the per-epoch table, the best model and early stopping follow its protocol);
    that stops a diverged run (DivergenceGuard); and whose run, resumed from a checkpoint taken at any step,
    draws the same batches and reports the same loss as an uninterrupted run."""

    def __init__(self, *args, references: list[str], save_steps: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.references = references  # of the rows of eval_dataset, in order
        self.add_callback(CompleteCheckpoints(save_steps))
        self.add_callback(DivergenceGuard)

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval") -> EvalLoopOutput:
        output = super().evaluation_loop(dataloader, description, True, ignore_keys, metric_key_prefix)  # the loss
        # Each process summarizes its share of the rows; every process scores the gathered whole, so all
        # agree on the best model and on stopping early.
        rows = range(self.args.process_index, len(self.eval_dataset), self.args.world_size)
        predictions, lengths = generate_summaries(
            self.model, self.processing_class, self.eval_dataset.with_format("arrow")[list(rows)]["input_ids"],
            self.args.per_device_eval_batch_size, self.args.generation_max_length, self.args.generation_num_beams)
        _, predictions, lengths = zip(*sorted(gather_object(list(zip(rows, predictions, lengths, strict=True)))))
        _, scores = score_summaries(list(predictions), list(lengths), self.references, EVALUATION_BOOTSTRAP_SAMPLES)
        output.metrics.update({f"{metric_key_prefix}_{name}": scores[name] for name in (*rouge.ROUGE_TYPES, "gen_len")})
        return output

    def _get_train_sampler(self, train_dataset=None):
        train_dataset = self.train_dataset if train_dataset is None else train_dataset
        if self.args.train_sampling_strategy != "group_by_length":  # RandomSampler: accelerate swaps in its
            return super()._get_train_sampler(train_dataset)        # SeedableRandomSampler, seeded by (seed, epoch) too
        # The lengths from the Arrow column: transformers' sampler reads every row into Python lists for them
        # (at 2M rows: 104 s and 6 GB; BENCHMARKS.md, data stages).
        lengths = data.token_counts(train_dataset.data.column("input_ids")).tolist()
        return EpochSeededLengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                               lengths, self.args.seed)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "train_loss" in logs:  # the summary at the end: Trainer's average covers only the steps this process ran
            logs["train_loss"] = mean_loss(self.state.log_history)
        super().log(logs, start_time)

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        return result._replace(training_loss=result.metrics["train_loss"])


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """transformers' length-grouped order, drawn for each epoch from a generator seeded by (seed, epoch).

    Trainer's own sampler draws the order from the global RNG as the epoch begins: resumed mid-epoch, that RNG
    is where the new process left it, not where the interrupted run had it, so the epoch's batches differ."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:  # accelerate's data loader calls it as each epoch begins
        self.epoch = epoch

    def __iter__(self):
        self.generator.manual_seed(self.seed + self.epoch)
        return super().__iter__()


def mean_loss(log_history: list[dict]) -> float:
    """The mean training loss over every step logged so far (each log holds the mean since the one before)."""
    total, previous_step = 0.0, 0
    for entry in log_history:
        if "loss" in entry:
            total += entry["loss"] * (entry["step"] - previous_step)
            previous_step = entry["step"]
    return total / max(previous_step, 1)


class CompleteCheckpoints(TrainerCallback):
    """A checkpoint every `save_steps` steps whatever the evaluation schedule (a killed run loses at most that
    many), and each holds everything up to its step that an uninterrupted run logs:
    - the loss, logged at every checkpoint as well (and so at the last step, which Trainer always saves), since
      Trainer keeps the running loss out of checkpoints; a diverged run is then stopped before it writes one;
    - the evaluation of an epoch that ends at the checkpoint's step: Trainer evaluates an epoch after the epoch
      ends, which comes after the checkpoint its last step takes, so a run resumed from there would skip it.
      Here the epoch's evaluation runs at its last step instead, before the checkpoint, and not again at its end.
    Trainer's own schedule (checkpoint_schedule) stays as load_best_model_at_end needs it, so transformers still
    tracks, keeps and loads the best evaluation's checkpoint; this only adds checkpoints to it."""

    def __init__(self, save_steps: int):
        self.save_steps = save_steps
        self.saved_step = None

    def on_step_end(self, args, state, control, **kwargs):
        control.should_evaluate = control.should_evaluate or ends_epoch_evaluated(args, state)
        control.should_save = control.should_save or (args.save_strategy != SaveStrategy.NO
                                                      and state.global_step % self.save_steps == 0)
        control.should_log = control.should_log or control.should_save

    def on_save(self, args, state, control, **kwargs):
        self.saved_step = state.global_step

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_evaluate = control.should_evaluate and not ends_epoch_evaluated(args, state)
        # save_strategy epoch checkpoints here, unless this step's end just did: writing the same checkpoint over
        # itself would leave it torn, yet complete-looking, if killed meanwhile
        control.should_save = control.should_save and self.saved_step != state.global_step
        control.should_log = control.should_log or control.should_save


def ends_epoch_evaluated(args, state: TrainerState) -> bool:
    """Whether this step ends an epoch that is evaluated (state.epoch is whole only at an epoch's last step)."""
    return args.eval_strategy == IntervalStrategy.EPOCH and float(state.epoch).is_integer()


class DivergenceGuard(TrainerCallback):
    """Stop the run at the first logged loss or gradient norm that is NaN or infinite; warn when the loss
    ends far above an untrained model's (ln of the vocabulary size: a uniform guess)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        watched = {"loss": logs.get("loss")}
        if not args.fp16:  # fp16's grad scaler skips steps whose gradients overflow while it calibrates: routine there
            watched["gradient norm"] = logs.get("grad_norm")
        broken = [f"{name} {value}" for name, value in watched.items() if value is not None and not math.isfinite(value)]
        if broken:
            raise UserError(f"training diverged at step {state.global_step} ({', '.join(broken)}): "
                            f"{divergence_remedy(args)}; no model was written")

    def on_train_end(self, args, state, control, model=None, **kwargs):
        losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
        untrained = math.log(model.config.vocab_size)
        if state.is_world_process_zero and losses and losses[-1] > 2 * untrained:
            warn("train", f"the loss ended at {losses[-1]:.4g}, far above an untrained model's ({untrained:.2f}): "
                          f"is train.learning_rate ({args.learning_rate:g}) too high?")


def divergence_remedy(args: Seq2SeqTrainingArguments) -> str:
    lower = f"lower train.learning_rate (now {args.learning_rate:g})"
    if args.fp16:
        return f"T5's activations overflow in fp16: set train.precision to bf16 (on a GPU that has it) or fp32, or {lower}"
    if args.bf16:
        return f"set train.precision to fp32 or {lower}"
    return lower


class TrainingCurves(DVCLiveCallback):
    """DVCLive's callback with the optimizer step on the x axis. DVC deletes dvclive/ before the stage runs, so a
    resumed run first writes the curves up to its checkpoint again, from the log history the checkpoint holds."""

    def __init__(self, directory: Path):
        super().__init__(live=Live(str(directory), dvcyaml=None, save_dvc_exp=False))

    def on_train_begin(self, args, state, control, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)
        for entry in state.log_history:  # empty unless resumed
            self.log_at(entry["step"], {key: value for key, value in entry.items() if key != "step"}, args, state, control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.log_at(state.global_step, logs, args, state, control)

    def log_at(self, step: int, logs: dict, args, state, control) -> None:
        self.live.step = step
        super().on_log(args, state, control, logs=logs)


TABLE_COLUMNS = ("Training Loss", "Epoch", "Step", "Validation Loss", "Rouge1", "Rouge2", "Rougel", "Rougelsum", "Gen Len")


def evaluation_table(state: TrainerState, metric: str) -> str:
    """The recipe's table, one row an evaluation: training and validation loss, ROUGE, gen_len (transformers'
    own model-card table), and which evaluation's weights were kept."""
    _, rows, _ = parse_log_history(state.log_history)
    if not rows:
        return "No evaluation during training (train.eval_strategy: no).\n"
    # make_markdown_table takes the columns from the first row and each row's values in its own order, and
    # the entries a resumed run read from a checkpoint have their keys sorted: put every row in one order.
    columns = [column for column in TABLE_COLUMNS if column in rows[0]] + sorted(set(rows[0]) - set(TABLE_COLUMNS))
    rows = [{column: row[column] for column in columns} for row in rows]
    kept = best_evaluation(state, metric)
    return make_markdown_table(rows) + (f"\nThe model has the weights of the best evaluation, {kept}.\n" if kept else "")


def best_evaluation(state: TrainerState, metric: str) -> str:
    """The evaluation whose weights load_best_model_at_end kept ('' without it)."""
    if state.best_global_step is None:
        return ""
    return f"step {state.best_global_step} ({metric} {state.best_metric:.4f})"
