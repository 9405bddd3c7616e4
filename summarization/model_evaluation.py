"""A model's evaluation on the evaluated split: its summaries generated, scored with ROUGE and measured for how
abstractive they are, in one pass. The evaluate stage runs it on the trained model, the pretrained stage on the
checkpoint before fine-tuning (the two write the same fields)."""

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from summarization import abstractiveness, measures
from summarization.config import RAW_DIR, TOKENIZED_DIR, Params
from summarization.data import (
    check_made_from,
    column_batches,
    in_processes_by_batch,
    map_tokenized_split,
    read_split,
    usable_cores,
)
from summarization.evaluation import summary_scores
from summarization.generation import generate_summaries


def evaluate_model(
    tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, params: Params
) -> tuple[list[dict], dict, dict[str, float]]:
    """Each example's id, reference, prediction and measures; the metrics (ROUGE with its interval, gen_len, n and
    abstractiveness.MODEL_METRICS); and every abstractiveness mean."""
    cfg = params.evaluate
    check_made_from(TOKENIZED_DIR, RAW_DIR, cfg.split, params)
    # Memory that does not grow with the split's documents: they are read a row group at a time, for the
    # abstractiveness measures, and the token ids are memory-mapped.
    raw, tokenized = read_split(RAW_DIR, cfg.split, ["id", "summary"]), map_tokenized_split(TOKENIZED_DIR, cfg.split)
    references = raw.column("summary").to_pylist()
    predictions, lengths = generate_summaries(
        model,
        tokenizer,
        tokenized.column("input_ids"),
        cfg.per_device_eval_batch_size,
        cfg.generation_max_length,
        cfg.num_beams,
    )
    documents = column_batches(RAW_DIR, cfg.split, "document")
    per_example = in_processes_by_batch(measures.of_prediction, [predictions, references], documents, usable_cores())
    metrics = summary_scores(per_example, lengths, cfg.bootstrap_samples)
    abstractive = abstractiveness.means([abstractiveness.totals(per_example)])
    metrics |= {field: abstractive[field] for field in abstractiveness.MODEL_METRICS}
    rows = [
        {"id": id_, "reference": reference, "prediction": prediction} | scores
        for id_, reference, prediction, scores in zip(
            raw.column("id").to_pylist(), references, predictions, per_example, strict=True
        )
    ]
    return rows, metrics, abstractive
