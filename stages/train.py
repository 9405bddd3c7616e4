"""Stage train: fine-tune the model on data/tokenized/ with Seq2SeqTrainer; write it (safetensors) to
models/summarizer/ and the run's loss and speed to metrics/train.json."""
from pathlib import Path

from dvclive import Live
from transformers import AutoTokenizer, PrinterCallback, Seq2SeqTrainer, set_seed
from transformers.integrations import DVCLiveCallback

from summarization import checkpoints, environment, modeling, training
from summarization.cli import on_terminal, report, run_stage
from summarization.config import CHECKPOINT_DIR, DVCLIVE_DIR, METRICS_DIR, MODEL_DIR, TOKENIZED_DIR, load_params
from summarization.data import read_dataset, split_file
from summarization.outputs import atomic_dir, write_json


def train() -> None:
    params = load_params()
    cfg = params.train
    precision = modeling.resolve_precision(cfg.precision)
    set_seed(cfg.seed)  # before the model is built: fresh weights come from this seed too
    train_split = read_dataset(TOKENIZED_DIR, "train")
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZED_DIR / "tokenizer")
    model = modeling.load_model(params.model, tokenizer)
    args = training.arguments(cfg, precision, CHECKPOINT_DIR)
    code = sorted([*Path("stages").glob("*.py"), *Path("summarization").glob("*.py")])
    run_id = checkpoints.fingerprint(params, [split_file(TOKENIZED_DIR, "train"), *code])
    with args.main_process_first(desc="checkpoints"):  # under torchrun, rank 0 clears stale checkpoints first
        resume_from = checkpoints.resume_point(CHECKPOINT_DIR, run_id)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train_split, processing_class=tokenizer,
                             data_collator=training.collator(tokenizer, model))
    if trainer.is_world_process_zero():  # one process writes curves (dvc.yaml declares them; dvc exp records the run)
        trainer.add_callback(DVCLiveCallback(live=Live(str(DVCLIVE_DIR), dvcyaml=None, save_dvc_exp=False)))
    if not on_terminal():
        trainer.remove_callback(PrinterCallback)  # a dict per logging step floods CI logs
    result = trainer.train(resume_from_checkpoint=resume_from)
    if not trainer.is_world_process_zero():
        return
    with atomic_dir(MODEL_DIR) as staging:
        model.save_pretrained(staging)  # safetensors; Trainer.save_model would add a pickled training_args.bin
        tokenizer.save_pretrained(staging)
    checkpoints.clear(CHECKPOINT_DIR)
    metrics = {"train_loss": round(result.training_loss, 4), "steps": result.global_step,
               "train_runtime": result.metrics["train_runtime"],
               "train_samples_per_second": result.metrics["train_samples_per_second"],
               "device": str(model.device), "processes": args.world_size, "precision": precision,
               "parameters": model.num_parameters(),
               "environment": environment.describe(precision)}
    write_json(METRICS_DIR / "train.json", metrics)
    report("train", f"{result.global_step} steps in {metrics['train_runtime']:.0f} s, loss {metrics['train_loss']}, "
                    f"{metrics['parameters']:,} parameters on {metrics['device']} ({precision}); wrote {MODEL_DIR}/")


if __name__ == "__main__":
    run_stage(train)
