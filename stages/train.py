"""Stage train: fine-tune the model on data/tokenized/ with Seq2SeqTrainer, evaluating it on the validation
split as it goes; write it (safetensors) to models/summarizer/, the run's loss and speed to
metrics/train.json, the table of its evaluations to reports/evaluations.md and where it ran to
reports/environment.json."""

from pathlib import Path

import datasets
from transformers import EarlyStoppingCallback, PrinterCallback, set_seed

from summarization import adapters, environment, launcher, modeling, resume, tokenizing, training
from summarization.cli import on_terminal, report, run_stage
from summarization.config import (
    DVCLIVE_DIR,
    ENVIRONMENT_FILE,
    EVALUATIONS_FILE,
    METRICS_DIR,
    MODEL_DIR,
    RAW_DIR,
    RESUME_DIR,
    TOKENIZED_DIR,
    load_params,
)
from summarization.data import check_made_from, file_digest, read_dataset, read_split, split_file
from summarization.outputs import write_json, write_text


def train() -> None:
    environment.keep_freed_memory()  # before the first step's allocations
    params = load_params()
    cfg = params.train
    precision = modeling.resolve_precision(cfg.precision)
    attention = modeling.training_attention(cfg.attention)
    launcher.launch(cfg.devices, "stages.train")  # several processes: this stage again in each, then exit
    set_seed(cfg.seed)  # before the model is built: fresh weights come from this seed too
    for split in ("train", "validation"):
        check_made_from(TOKENIZED_DIR, RAW_DIR, split, params)
    # Each split hashed once (the file streamed): for datasets' fingerprint and for the checkpoints'
    digests = {split: file_digest(split_file(TOKENIZED_DIR, split)) for split in ("train", "validation")}
    train_split = read_dataset(TOKENIZED_DIR, "train", digests["train"])
    tokenizer = tokenizing.read_tokenizer(TOKENIZED_DIR)
    model = adapters.with_lora(modeling.load_model(params.model, tokenizer, attention), cfg.lora, params.model)
    args = training.arguments(cfg, precision, RESUME_DIR)
    if args.process_index == 0:  # the one process that clears and rotates checkpoints; before Trainer makes the dir
        resume.hold(RESUME_DIR)
    validation, references = (
        validation_rows(cfg.eval_max_samples, digests["validation"]) if cfg.eval_strategy != "no" else (None, [])
    )
    trainer = training.SummarizationTrainer.of_params(
        cfg,
        references,
        model=model,
        args=args,
        train_dataset=train_split,
        eval_dataset=validation,
        processing_class=tokenizer,
    )
    code = sorted([*Path("stages").glob("*.py"), *Path("summarization").glob("*.py")])
    run_id = resume.fingerprint(params, [*digests.values(), *map(file_digest, code)])
    with args.main_process_first(desc="checkpoints"):  # under torchrun, rank 0 clears stale checkpoints first
        resume_from = resume.resume_point(RESUME_DIR, run_id)
    if trainer.is_world_process_zero():
        report("train", trainer.describe_epoch())
    if cfg.early_stopping_patience:
        trainer.add_callback(EarlyStoppingCallback(cfg.early_stopping_patience))
    if trainer.is_world_process_zero():  # one process writes curves (dvc.yaml declares them; dvc exp records the run)
        trainer.add_callback(training.TrainingCurves(DVCLIVE_DIR))
    if not on_terminal():
        trainer.remove_callback(PrinterCallback)  # a dict per logging step floods CI logs
    result = trainer.train(resume_from_checkpoint=resume_from)
    training.save_trained(trainer, tokenizer, MODEL_DIR)  # with load_best_model_at_end, the best weights
    training.end_processes(trainer)  # the last collective is done
    if not trainer.is_world_process_zero():
        return
    resume.clear(RESUME_DIR)
    metrics = {
        "train_loss": round(result.training_loss, 4),
        "steps": result.global_step,
        "train_runtime": result.metrics["train_runtime"],
        "train_samples_per_second": result.metrics["train_samples_per_second"],
        "parameters": model.num_parameters(),
        **{key: result.metrics[key] for key in ("compiled_graphs", "compile_seconds") if key in result.metrics},
    }
    write_json(METRICS_DIR / "train.json", metrics)
    write_json(ENVIRONMENT_FILE, environment.describe(precision, args.world_size))
    write_text(EVALUATIONS_FILE, training.evaluation_table(trainer.state, cfg.metric_for_best_model))
    kept = training.best_evaluation(trainer.state, cfg.metric_for_best_model)
    report(
        "train",
        f"{result.global_step} steps in {metrics['train_runtime']:.0f} s, loss {metrics['train_loss']}, "
        f"{metrics['parameters']:,} parameters on {model.device} ({precision}); wrote {MODEL_DIR}/"
        + (f" with the weights of {kept}" if kept else ""),
    )


def validation_rows(limit: int | None, digest: str) -> tuple[datasets.Dataset, list[str]]:
    """The first `limit` validation rows (all with None), tokenized, and their reference summaries (`digest`: the
    split file's)."""
    tokenized = read_dataset(TOKENIZED_DIR, "validation", digest)
    tokenized = tokenized.select(range(min(limit or len(tokenized), len(tokenized))))
    return tokenized, read_split(RAW_DIR, "validation", ["summary"]).column("summary").to_pylist()[: len(tokenized)]


if __name__ == "__main__":
    run_stage(train)
