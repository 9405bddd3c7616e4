"""Stage pretrained: the checkpoint before fine-tuning as a baseline, evaluated as the evaluate stage evaluates the
trained model (its ROUGE and abstractiveness on the evaluated split, beside lead-1's). It depends on the checkpoint,
the data and evaluate's params, not on training, so DVC runs it once for each. Where model.checkpoint names no
pretrained model (embedded, or from_scratch: random weights), both its files are empty ({}). Writes
metrics/pretrained.json and reports/pretrained_abstractiveness.json. (To keep its summaries too, evaluate the
checkpoint as the model: train.num_train_epochs: 0, docs/evaluation.md.)"""

from summarization.cli import report, run_stage
from summarization.config import (
    EMBEDDED,
    METRICS_DIR,
    PRETRAINED_ABSTRACTIVENESS_FILE,
    TOKENIZED_DIR,
    Params,
    load_params,
)
from summarization.outputs import together, write_json


def pretrained() -> None:
    params = load_params()
    if params.model.checkpoint == EMBEDDED or params.model.from_scratch:
        metrics, abstractive = {}, {}
        summary = f"no pretrained checkpoint to score (model.checkpoint: {params.model.checkpoint}"
        summary += ", from_scratch)" if params.model.from_scratch else ")"
    else:
        metrics, abstractive, summary = scored(params)
    with together():
        write_json(METRICS_DIR / "pretrained.json", metrics)
        write_json(PRETRAINED_ABSTRACTIVENESS_FILE, abstractive)
    report("pretrained", summary)


def scored(params: Params) -> tuple[dict, dict, str]:
    """The checkpoint's metrics, its abstractiveness means, and the stage's line."""
    # Imported here: torch and the model classes are 4 of the 5 s this stage took where there is nothing to score
    # (the embedded default, make repro)
    from summarization import modeling, tokenizing
    from summarization.model_evaluation import evaluate_model

    tokenizer = tokenizing.read_tokenizer(TOKENIZED_DIR)  # the checkpoint's own, as preprocess saved it
    model = modeling.load_model(params.model, tokenizer, "eager").to(modeling.device())
    rows, metrics, means = evaluate_model(tokenizer, model, params)
    summary = (
        f"{params.model.checkpoint} before fine-tuning, {params.evaluate.split} ({len(rows)} rows): "
        f"rouge1 {metrics['rouge1']:.2f} rouge2 {metrics['rouge2']:.2f} rougeL {metrics['rougeL']:.2f}"
    )
    return metrics, {"pretrained": means}, summary


if __name__ == "__main__":
    run_stage(pretrained)
