"""The training path shared by the train stage and the benchmark: Seq2SeqTrainer's arguments and collator
as the train section of params.yaml sets them (bench/throughput.py measures each choice against the recipe),
and the train stage's Trainer: it evaluates as the evaluate stage does, stops a diverged run, and a run
killed at any step resumes from its last checkpoint to the same model, loss and curves as an uninterrupted one;
then the model it saves (save_trained)."""

import gc
import math
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from unittest import mock  # patch.dict: os.environ as it was after the block

import numpy as np
import platformdirs
import torch
import torch.nn.functional as F
from accelerate.utils import gather_object
from dvclive import Live
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase, Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainerCallback
from transformers.integrations import DVCLiveCallback
from transformers.modelcard import parse_log_history
from transformers.trainer_callback import TrainerState
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import (
    PREFIX_CHECKPOINT_DIR,
    EvalLoopOutput,
    IntervalStrategy,
    SaveStrategy,
    seed_worker,
)

from summarization import data, modeling, resume, rouge
from summarization.batching import BucketCollator, Shapes, TokenBudgetSampler, epoch_shapes
from summarization.cli import on_terminal, warn
from summarization.config import Train
from summarization.errors import UserError
from summarization.evaluation import score_summaries
from summarization.generation import generate_summaries
from summarization.markup import markdown_table, markdown_text
from summarization.outputs import atomic_dir, reported_as_user_error

EVALUATION_BOOTSTRAP_SAMPLES = 1000  # only the middle estimate is logged during training
MODEL_COLUMNS = ["input_ids", "labels"]  # of a tokenized split, what the collators read (not its id)


def arguments(cfg: Train, precision: str, output_dir: Path, **overrides) -> Seq2SeqTrainingArguments:
    """Trainer arguments from params.yaml; `overrides` (the benchmark's) replace any of them."""
    cpu = modeling.device().type == "cpu"
    return Seq2SeqTrainingArguments(
        **{
            "output_dir": str(output_dir),
            **checkpoint_schedule(cfg),
            "save_total_limit": 1,
            "disable_tqdm": not on_terminal(),
            "report_to": "none",  # the train stage adds DVCLive itself, configured, and only once
            "learning_rate": cfg.learning_rate,
            "per_device_train_batch_size": cfg.per_device_train_batch_size,
            "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
            "num_train_epochs": cfg.num_train_epochs,
            "weight_decay": cfg.weight_decay,
            "warmup_steps": cfg.warmup_steps,
            "lr_scheduler_type": cfg.lr_scheduler_type,
            "optim": cfg.optim,
            "train_sampling_strategy": sampling_strategy(cfg),
            "fp16": precision == "fp16",
            "bf16": precision == "bf16",
            "eval_strategy": cfg.eval_strategy,
            "eval_steps": cfg.eval_steps,
            "per_device_eval_batch_size": cfg.per_device_eval_batch_size,
            "generation_max_length": cfg.generation_max_length,
            "generation_num_beams": cfg.generation_num_beams,
            "load_best_model_at_end": cfg.load_best_model_at_end,
            "metric_for_best_model": cfg.metric_for_best_model if cfg.load_best_model_at_end else None,
            "use_cpu": cpu,  # also makes torchrun on CPUs use DDP over gloo
            "logging_steps": cfg.logging_steps,
            "seed": cfg.seed,
            "logging_nan_inf_filter": False,  # a NaN loss must show in the logs (DivergenceGuard), not be averaged away
            # The loss of a step is the mean over all its target tokens, on every process (token_mean_loss)
            "average_tokens_across_devices": True,
            "torch_compile": cfg.compile != "none",
            "torch_compile_mode": None if cfg.compile == "none" else cfg.compile,
            **loading(cpu),
            **memory_savers(cfg, cpu),
        }
        | overrides
    )


def loading(cpu: bool) -> dict:
    """How batches reach the device. On a GPU: collated by worker processes ahead of the step, in pinned memory,
    copied without waiting (a blocking copy would make the host wait for the GPU's queue at every step). On a
    CPU the main process collates: a batch takes milliseconds against a step of seconds, and a worker would take
    a core from the matmuls (BENCHMARKS.md)."""
    if cpu:
        return {"dataloader_pin_memory": False}
    return {
        "dataloader_pin_memory": True,
        "dataloader_num_workers": 2,
        "dataloader_prefetch_factor": 4,
        "dataloader_persistent_workers": True,
        "accelerator_config": {"non_blocking": True},
    }


def memory_savers(cfg: Train, cpu: bool) -> dict:
    """What trades compute for memory, for models that do not fit a device as they are: transformers' activation
    checkpointing, or FSDP sharding across the processes of torchrun (which then checkpoints activations its own
    way)."""
    if not cfg.fsdp:
        return {"activation_checkpointing": cfg.gradient_checkpointing}
    if cpu:  # accelerate shards only across accelerators; on CPUs it would quietly run DDP instead
        raise UserError("train.fsdp needs CUDA GPUs: accelerate does not shard across CPU processes")
    # FSDP2; the saved model holds whole weights. FSDP's own checkpointing spares the all-gather that the
    # Trainer's would repeat in the backward pass.
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            "state_dict_type": "FULL_STATE_DICT",
            "activation_checkpointing": cfg.gradient_checkpointing,
        },
    }


def sampling_strategy(cfg: Train) -> str:
    """Trainer's name for how batches are drawn: grouped by length, or at random as the recipe does."""
    return "group_by_length" if cfg.group_by_length else "random"


def token_mean_loss(outputs, labels: torch.Tensor, num_items_in_batch: torch.Tensor) -> torch.Tensor:
    """The cross-entropy summed over a batch's target tokens and divided by the target tokens of the whole step:
    all its accumulated batches, on every process (Trainer counts them: `num_items_in_batch`). A step's loss is
    then the mean over its tokens whatever their split into batches; T5's own loss, a mean per batch, would give a
    batch of few tokens the weight of one of many, and Trainer, seeing a model that takes loss arguments, would not
    divide it by the accumulated batches."""
    logits = outputs["logits"]
    return (
        F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten().to(logits.device), reduction="sum")
        / num_items_in_batch
    )


def split_lengths(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Source and target tokens of each row of a tokenized split, from its Arrow offsets."""
    return data.token_counts(dataset.data.column("input_ids")), data.token_counts(dataset.data.column("labels"))


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

    def __init__(self, *args, shapes: Shapes, references: list[str], save_steps: int, **kwargs):
        # Evaluation batches are padded to the same lengths, but never given empty rows
        collator = BucketCollator(replace(shapes, max_tokens=None), kwargs["processing_class"], kwargs["model"])
        super().__init__(*args, data_collator=collator, compute_loss_func=token_mean_loss, **kwargs)
        self.shapes = shapes
        self.references = references  # of the rows of eval_dataset, in order
        self.add_callback(CompleteCheckpoints(save_steps))
        self.add_callback(DivergenceGuard)
        self.non_embedding_parameters = self.model.num_parameters(exclude_embeddings=True)

    @classmethod
    def of_params(cls, cfg: Train, references: list[str] = (), **kwargs) -> "SummarizationTrainer":
        """The trainer as the train section of params.yaml sets it: its batch shapes from the train split's
        lengths, its checkpoints every save_steps, its accumulation checked (`kwargs`: Trainer's own)."""
        shapes = Shapes.of(cfg, *split_lengths(kwargs["train_dataset"]))
        check_accumulation(kwargs["args"], shapes, kwargs["train_dataset"])  # before Trainer makes its output_dir
        return cls(shapes=shapes, references=list(references), save_steps=cfg.save_steps, **kwargs)

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ) -> EvalLoopOutput:
        output = super().evaluation_loop(dataloader, description, True, ignore_keys, metric_key_prefix)  # the loss
        # Each process summarizes its share of the rows; every process scores the gathered whole, so all
        # agree on the best model and on stopping early.
        rows = range(self.args.process_index, len(self.eval_dataset), self.args.world_size)
        predictions, lengths = generate_summaries(
            self.model,
            self.processing_class,
            self.eval_dataset.with_format("arrow")[list(rows)]["input_ids"],
            self.args.per_device_eval_batch_size,
            self.args.generation_max_length,
            self.args.generation_num_beams,
        )
        _, predictions, lengths = zip(*sorted(gather_object(list(zip(rows, predictions, lengths, strict=True)))))
        # Every process scores at once here: each on its share of the cores
        processes = max(1, data.usable_cores() // self.args.world_size)
        _, scores = score_summaries(
            list(predictions), list(lengths), self.references, EVALUATION_BOOTSTRAP_SAMPLES, processes
        )
        output.metrics.update({f"{metric_key_prefix}_{name}": scores[name] for name in (*rouge.ROUGE_TYPES, "gen_len")})
        return output

    def get_train_dataloader(self) -> DataLoader:
        args = self.args
        if self.shapes.max_tokens is not None:  # batches of indices (a batch_sampler), padded to their bucket
            batches = {
                "batch_sampler": TokenBudgetSampler(self.shapes, *split_lengths(self.train_dataset), args.seed),
                "collate_fn": BucketCollator(self.shapes, self.processing_class, self.model),
            }
        elif args.train_sampling_strategy == "group_by_length":
            batches = {
                "batch_size": args.train_batch_size,
                "sampler": self.length_grouped_sampler(),
                "drop_last": args.dataloader_drop_last,
                "collate_fn": self.data_collator,
            }
        else:  # random batches: accelerate swaps in its SeedableRandomSampler, seeded by (seed, epoch) too
            return super().get_train_dataloader()
        # The other options are the ones Trainer gives its own loader
        return self.accelerator.prepare(
            DataLoader(
                self.train_dataset.select_columns(MODEL_COLUMNS),
                **batches,
                num_workers=args.dataloader_num_workers,
                pin_memory=args.dataloader_pin_memory,
                persistent_workers=args.dataloader_persistent_workers,
                prefetch_factor=args.dataloader_prefetch_factor,
                worker_init_fn=partial(seed_worker, num_workers=args.dataloader_num_workers, rank=args.process_index),
            )
        )

    def length_grouped_sampler(self) -> "EpochSeededLengthGroupedSampler":
        """transformers' length-grouped order, drawn from (seed, epoch). The lengths come from the Arrow column:
        transformers' own sampler reads every row into Python lists for them (at 2M rows: 104 s and 6 GB;
        BENCHMARKS.md, data stages)."""
        lengths = data.token_counts(self.train_dataset.data.column("input_ids")).tolist()
        return EpochSeededLengthGroupedSampler(
            self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths, self.args.seed
        )

    def epoch_layout(self) -> tuple[dict, float, float] | None:
        """The first epoch's batch shapes (rows, source, target) with their counts, and its shares of padding in
        source and target tokens; None for random batches, which the global generator draws as the epoch begins."""
        batches = self.epoch_batches()
        return None if batches is None else epoch_shapes(batches, self.shapes, *split_lengths(self.train_dataset))

    def epoch_batches(self) -> list[list[int]] | None:
        """The first epoch's batches of rows, where they are drawn from (seed, epoch) (None for random batches,
        which the global random generator draws)."""
        if self.shapes.max_tokens is not None:
            return list(TokenBudgetSampler(self.shapes, *split_lengths(self.train_dataset), self.args.seed))
        if self.args.train_sampling_strategy != "group_by_length":
            return None
        order = list(self.length_grouped_sampler())
        size = self.args.train_batch_size
        return [order[start : start + size] for start in range(0, len(order), size)]

    def describe_epoch(self) -> str:
        """The epoch's batch shapes and padding, as the run begins (compiled steps are compiled once per shape)."""
        layout = self.epoch_layout()
        if layout is None:
            return f"random batches of {self.args.train_batch_size} rows, each padded to its longest row"
        shapes, source, target = layout
        return (
            f"{sum(shapes.values())} batches an epoch in {len(shapes)} shapes (rows x source x target tokens); "
            f"padding: {source:.1%} of source tokens, {target:.1%} of target tokens"
        )

    def compute_loss(self, model, inputs, *args, **kwargs):
        # No KV cache in a loss's forward pass: T5 would build one at each (config deep copies and empty tensors,
        # ~1 ms of host time a step) for a single pass. Generation and the saved config keep config.use_cache.
        return super().compute_loss(model, inputs | {"use_cache": False}, *args, **kwargs)

    def floating_point_ops(self, inputs: dict) -> int:
        """Trainer's count (6 x tokens x weights), with the weights counted once, not at every step."""
        return 6 * inputs["input_ids"].numel() * self.non_embedding_parameters

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "train_loss" in logs:  # the summary at the end: Trainer's average covers only the steps this process ran
            logs["train_loss"] = mean_loss(self.state.log_history)
        super().log(logs, start_time)

    def train(self, *args, **kwargs):
        # What the run changes in the process (transformers' attention registries, dynamo's settings, the compile
        # cache's place) it changes for itself, and puts back as it ends
        with ExitStack() as settings:
            settings.enter_context(modeling.attention_registered())
            if self.args.torch_compile:
                settings.enter_context(compiling_each_shape(self.compiled_shapes()))
            result = super().train(*args, **kwargs)
        if self.args.torch_compile:
            result.metrics.update(compilation())
        return result._replace(training_loss=result.metrics["train_loss"])

    def compiled_shapes(self) -> int:
        """How many batch shapes the run compiles the step for."""
        return len(self.epoch_layout()[0])

    def _save_checkpoint(self, model, trial) -> None:
        # A checkpoint cut short (a full disk) lacks the record of its files, written last: the next run removes
        # it and resumes from the one before (resume.last_complete).
        with reported_as_user_error(
            Path(self.args.output_dir), "free some space and rerun: training resumes from the last whole checkpoint"
        ):
            super()._save_checkpoint(model, trial)
            self.accelerator.wait_for_everyone()  # each process writes its own RNG state
            if self.is_world_process_zero():
                resume.record_files(Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")

    def _issue_warnings_after_load(self, load_result) -> None:
        # Tied weights (T5's embeddings and head are all `shared.weight`) are saved once; loading the best
        # checkpoint fills them through the weight they are tied to, which Trainer reports as missing keys.
        super()._issue_warnings_after_load(
            load_result._replace(missing_keys=untied(self.model, load_result.missing_keys))
        )


def untied(model: torch.nn.Module, keys: list[str]) -> list[str]:
    """The keys among `keys` whose weights are not the same tensor as a weight outside them."""
    weights = model.state_dict(keep_vars=True)
    others = {weights[key].data_ptr() for key in weights.keys() - set(keys)}
    return [key for key in keys if weights[key].data_ptr() not in others]


@contextmanager
def compiling_each_shape(shapes: int) -> Iterator[None]:
    """While in the block, torch.compile compiles the step once for all the run's batch shapes, and the run after it
    compiles from the cache: the batch's rows and lengths are symbolic from the first batch on (by default dynamo
    compiles the first shape as it is and every later one again, generic; with each shape static, 16 shapes compile
    16 times), while CUDA graphs (reduce-overhead) are still recorded once a shape, which takes milliseconds; and
    Inductor keeps its compiled graphs (FX graph and AOTAutograd caches) in compile_cache() rather than in /tmp.
    The model's float attributes (dropout rates, epsilons) stay constants: with shapes dynamic, dynamo made them
    symbols too, found after tracing the whole step that it could not turn them into tensors, and traced it all
    again ("Restarting analysis"): a re-run compiling from the cache took twice as long. `shapes` bounds the
    recompiles allowed (a row count of 1 is compiled apart)."""
    from torch._dynamo import config  # private: summarization/private_hooks.py

    limit = max(config.recompile_limit, shapes)
    with (
        config.patch(assume_static_by_default=False, specialize_float=True, recompile_limit=limit),
        mock.patch.dict(os.environ, {"TORCHINDUCTOR_CACHE_DIR": str(compile_cache())}),
    ):
        yield


def compile_cache() -> Path:
    """Where torch.compile's caches last: the user's cache directory (~/.cache/summarization/torchinductor on Linux,
    ~/Library/Caches on macOS), shared by every checkout and every `dvc exp run` copy of the project, and kept
    across reboots, unlike torch's default under /tmp. Entries are keyed by the graph, the shapes' guards and the
    torch version, so sharing them is safe; TORCHINDUCTOR_CACHE_DIR, where the user set it, wins."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir  # private: summarization/private_hooks.py

    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    # torch writes its default into the environment itself as torch._dynamo is imported: that is not a choice
    if chosen and os.path.abspath(chosen) != os.path.abspath(default_cache_dir()):
        return Path(chosen)
    return Path(platformdirs.user_cache_dir("summarization")) / "torchinductor"


def compilation() -> dict:
    """How many graphs torch.compile made in this process, and the seconds it took (paid once per shape a run)."""
    from torch._dynamo.utils import counters, get_compilation_metrics

    seconds = sum(metric.entire_frame_compile_time_s or 0 for metric in get_compilation_metrics())
    return {"compiled_graphs": counters["stats"]["unique_graphs"], "compile_seconds": round(seconds, 1)}


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
        control.should_save = control.should_save or (
            args.save_strategy != SaveStrategy.NO and state.global_step % self.save_steps == 0
        )
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
        broken = [
            f"{name} {value}" for name, value in watched.items() if value is not None and not math.isfinite(value)
        ]
        if broken:
            raise UserError(
                f"training diverged at step {state.global_step} ({', '.join(broken)}): "
                f"{divergence_remedy(args)}; no model was written"
            )

    def on_train_end(self, args, state, control, model=None, **kwargs):
        losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
        untrained = math.log(model.config.vocab_size)
        if state.is_world_process_zero and losses and losses[-1] > 2 * untrained:
            param, value = suspect(args)
            warn(
                "train",
                f"the loss ended at {losses[-1]:.4g}, far above an untrained model's ({untrained:.2f}): "
                f"is {param} ({value:g}) too high?",
            )


def suspect(args: Seq2SeqTrainingArguments) -> tuple[str, float]:
    """The param to blame for a loss that blows up: a weight decay above 1 (AdamW shrinks each weight by
    learning_rate x weight_decay a step, so 1e4 typed for 1e-4 swamps any gradient), else the learning rate."""
    if args.weight_decay > 1:
        return "train.weight_decay", args.weight_decay
    return "train.learning_rate", args.learning_rate


def divergence_remedy(args: Seq2SeqTrainingArguments) -> str:
    param, value = suspect(args)
    lower = f"lower {param} (now {value:g})"
    if args.fp16:
        return (
            f"T5's activations overflow in fp16: set train.precision to bf16 (on a GPU that has it) or fp32, or {lower}"
        )
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
            self.log_at(
                entry["step"], {key: value for key, value in entry.items() if key != "step"}, args, state, control
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.log_at(state.global_step, logs, args, state, control)

    def log_at(self, step: int, logs: dict, args, state, control) -> None:
        self.live.step = step
        super().on_log(args, state, control, logs=logs)


TABLE_COLUMNS = (
    "Training Loss",
    "Epoch",
    "Step",
    "Validation Loss",
    "Rouge1",
    "Rouge2",
    "Rougel",
    "Rougelsum",
    "Gen Len",
)


def evaluation_table(state: TrainerState, metric: str) -> str:
    """The recipe's table, one row an evaluation: training and validation loss, ROUGE, gen_len (transformers'
    own model-card table), and which evaluation's weights were kept."""
    _, rows, _ = parse_log_history(state.log_history)
    if not rows:
        return "No evaluation during training (train.eval_strategy: no).\n"
    # The entries a resumed run read from a checkpoint have their keys sorted: every row in the first's order
    columns = [column for column in TABLE_COLUMNS if column in rows[0]] + sorted(set(rows[0]) - set(TABLE_COLUMNS))
    cells = [
        [round(row[column], 4) if isinstance(row[column], float) else row[column] for column in columns] for row in rows
    ]
    kept = best_evaluation(state, metric)
    return markdown_table([markdown_text(column) for column in columns], cells) + (
        f"\n\nThe model has the weights of the best evaluation, {markdown_text(kept)}.\n" if kept else "\n"
    )


def best_evaluation(state: TrainerState, metric: str) -> str:
    """The evaluation whose weights load_best_model_at_end kept ('' without it)."""
    if state.best_global_step is None:
        return ""
    return f"step {state.best_global_step} ({metric} {state.best_metric:.4f})"


def check_accumulation(args: Seq2SeqTrainingArguments, shapes: Shapes, train_split) -> None:
    """Refuse more batches a step than a process has in an epoch: Trainer would then step once an epoch on fewer
    batches than asked, and log a loss many times a batch's."""
    rows = len(train_split)
    batches = (
        len(TokenBudgetSampler(shapes, *split_lengths(train_split), args.seed))
        if shapes.max_tokens is not None
        else math.ceil(rows / args.train_batch_size)
    )
    batches = math.ceil(batches / args.world_size)  # each process takes its share of an epoch's batches
    if args.gradient_accumulation_steps > batches:
        processes = f" on {args.world_size} processes" if args.world_size > 1 else ""
        raise UserError(
            f"train.gradient_accumulation_steps ({args.gradient_accumulation_steps}) is more than the "
            f"{batches} batches of an epoch ({rows} train rows{processes}): set it to {batches} or less"
        )


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


def end_processes(trainer: Trainer) -> None:
    """After the last collective, each process takes down its process group before it exits (a rank that exits while
    gloo's threads still run aborts: "terminate called without an active exception"), and the DDP wrapper first. Its
    reducer holds the group: freed last there, the group's destructor joins gloo's threads holding the GIL, while a
    thread finishing an all_gather waits for the GIL to free a tensor, and the process hangs (seen under load at
    the end of a torchrun; pytorch/pytorch#56297). torch.distributed's destroy_process_group shuts the group down by
    an explicit call (ProcessGroup.shutdown) before dropping its own reference, not in a destructor. One process has
    no group: nothing to take down, and no collection to pay (a gc.collect here takes ~0.2 s of the stage's CPU)."""
    if not torch.distributed.is_initialized():
        return
    trainer.model_wrapped = trainer.model  # the wrapper's references: Trainer's, accelerate's, its hooks' cycles
    trainer.accelerator.free_memory()
    gc.collect()
    trainer.accelerator.end_training()  # destroy_process_group
