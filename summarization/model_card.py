"""The shareable model's card (README.md), laid out as the Hugging Face Hub reads one: YAML front matter
(library, task, base model, data set, ROUGE values), then how to use the model, where it comes from,
how it was trained, how well it summarizes and how abstractively, beside the lead-1 baseline, and where it ran."""

from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from summarization.abstractiveness import FIELDS, MAX_N
from summarization.config import EMBEDDED, Fetch, Model, Params
from summarization.markup import markdown_code, markdown_table, markdown_text
from summarization.rouge import ROUGE_TYPES

ROUGE_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum"}
GRAMS = {1: "unigrams", 2: "bigrams", 3: "trigrams", 4: "4-grams"}
MEASURE_NAMES = {
    **{f"novel_{n}": f"novel {GRAMS[n]}" for n in range(1, MAX_N + 1)},
    "coverage": "extractive coverage",
    "density": "extractive density (words)",
    "compression": "compression (document words per summary word)",
    **{f"repeated_{n}": f"repeated {GRAMS[n]}" for n in range(1, MAX_N + 1)},
    "novel_names": "names and numbers absent from the document",
}


def render(name: str, params: Params, model_type: str, records: dict[str, dict]) -> str:
    """The card; `records` holds metrics/data.json, reports/token_lengths.json, metrics/train.json,
    metrics/rouge.json, metrics/lead1.json, reports/abstractiveness.json, reports/baseline_abstractiveness.json and
    reports/environment.json under data, lengths, train, rouge, lead1, abstractiveness, baseline_abstractiveness
    and environment."""
    source, dataset_id = data_source(params.fetch)
    rouge, environment = records["rouge"], records["environment"]
    return "\n".join(
        [
            front_matter(name, params, model_type, rouge, source, dataset_id),
            f"# {name}\n\nA {markdown_text(model_type)} summarization model {base_checkpoint(params.model)}, on "
            f"{source}, by the dvc-summarization pipeline (`dvc repro` at git revision "
            f"{markdown_code(environment['git_revision'])}).\n",
            use_section(params),
            data_section(source, records["data"], records["lengths"]),
            training_section(params, records["train"]),
            evaluation_section(params, rouge, records["lead1"]),
            abstractiveness_section(records["abstractiveness"] | records["baseline_abstractiveness"]),
            environment_section(environment),
        ]
    )


def section(title: str, *blocks: str) -> str:
    """A second-level section: its title, then each block as a paragraph."""
    return "\n\n".join([f"## {title}", *blocks]) + "\n"


def use_section(params: Params) -> str:
    """How to load the model and summarize with transformers alone, and the settings it carries."""
    preprocess, evaluate = params.preprocess, params.evaluate
    code = [
        "```python",
        "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/directory")',
        'model = AutoModelForSeq2SeqLM.from_pretrained("path/to/this/directory")',
        'prefix = model.config.task_specific_params["summarization"]["prefix"]',
        'summary_ids = model.generate(**tokenizer(prefix + document, truncation=True, return_tensors="pt"))',
        "print(tokenizer.decode(summary_ids[0], skip_special_tokens=True))",
        "```",
    ]
    return section(
        "Use",
        "\n".join(code),
        "This reproduces the evaluation below: the model carries its settings. The prefix "
        f"({markdown_code(repr(preprocess.prefix))}) is `task_specific_params.summarization.prefix` in `config.json`; "
        "documents are "
        f"cut to {preprocess.max_source_length} tokens (the tokenizer's `model_max_length`, keeping the closing "
        f"special tokens); `generation_config.json` holds `max_length` {evaluate.generation_max_length} and "
        f"`num_beams` {evaluate.num_beams}. With dvc-summarization installed, `summarize --model DIR FILE...` "
        f"summarizes files in batches of {evaluate.per_device_eval_batch_size}, as evaluation did.",
    )


def data_section(source: str, data: dict, lengths: dict) -> str:
    """Each split's rows, mean token lengths and shares truncated."""
    header = [
        "split",
        "rows",
        "document tokens (mean)",
        "documents truncated",
        "summary tokens (mean)",
        "summaries truncated",
    ]
    rows = [
        [
            split,
            stats["rows"],
            lengths[split]["source_tokens"]["mean"],
            f"{stats['source_truncated']:.1%}",
            lengths[split]["target_tokens"]["mean"],
            f"{stats['target_truncated']:.1%}",
        ]
        for split, stats in data.items()
    ]
    return section(
        "Data",
        f"{source[0].upper()}{source[1:]}; tokens per document and summary before truncation (how abstractive the "
        "evaluated split's reference summaries are: Abstractiveness, below):",
        markdown_table(header, rows),
    )


def training_section(params: Params, train: dict) -> str:
    """The run's steps, loss and size, and the preprocess and train params it ran with."""
    rows = [
        [markdown_code(f"{section}.{key}"), markdown_code(repr(value))]
        for section in ("preprocess", "train")
        for key, value in getattr(params, section).model_dump().items()
    ]
    return section(
        "Training",
        f"{train['steps']} optimizer steps, final training loss {train['train_loss']}, "
        f"{train['parameters']:,} parameters. Parameters (`params.yaml`):",
        markdown_table(["param", "value"], rows),
    )


def evaluation_section(params: Params, rouge: dict, lead1: dict) -> str:
    """ROUGE on the evaluated split with its bootstrap interval, beside the lead-1 baseline."""
    rows = [
        [
            kind,
            f"{rouge[kind]:.2f}",
            f"{rouge['bootstrap'][kind]['low']:.2f} to {rouge['bootstrap'][kind]['high']:.2f}",
            f"{lead1[kind]:.2f}",
        ]
        for kind in ROUGE_TYPES
    ]
    return section(
        "Evaluation",
        f"The {params.evaluate.split} split ({rouge['n']} rows): ROUGE F-measure x 100 as Hugging Face's `rouge` "
        "metric computes it, the bootstrap's 95% interval, and the lead-1 baseline (each document's first "
        f"sentence). Mean summary length {rouge['gen_len']:.1f} tokens.",
        markdown_table(["ROUGE", "model", "95% interval", "lead-1"], rows),
    )


def abstractiveness_section(abstractiveness: dict) -> str:
    """How much of each summary its document holds: the model's, the reference's and lead-1's, means over the
    evaluated split."""
    columns = ("predictions", "references", "lead1")
    rows = [
        [MEASURE_NAMES[field], *(format_measure(field, abstractiveness[column][field]) for column in columns)]
        for field in FIELDS
    ]
    return section(
        "Abstractiveness",
        "How much the summaries copy from their documents, on lower-cased words (ROUGE's, without stemming), means "
        "over the evaluated split: the share of a summary's n-grams absent from its document (novel; Narayan et "
        "al., 2018), the share of its words inside fragments copied from the document, and the fragments' squared "
        "lengths summed per summary word (extractive coverage and density; Grusky et al., 2018), the document's length "
        "over the summary's (compression), and the share of its n-grams repeating an earlier one (repeated).",
        markdown_table(["measure", "model", "references", "lead-1"], rows),
    )


def format_measure(field: str, value: float) -> str:
    """Shares as percentages; density and compression as numbers."""
    return f"{value:.2f}" if field in ("density", "compression") else f"{value:.1%}"


def environment_section(environment: dict) -> str:
    """Where the model was trained: reports/environment.json."""
    rows = [[markdown_code(key), markdown_code(value)] for key, value in environment.items()]
    return section("Environment", markdown_table(["record", "value"], rows))


def front_matter(name: str, params: Params, model_type: str, rouge: dict, source: str, dataset_id: str) -> str:
    """The metadata the Hub indexes: what the model is, and its scores as a model-index entry (huggingface_hub
    writes and checks the Hub's format)."""
    results = [
        EvalResult(
            task_type="summarization",
            task_name="Summarization",
            dataset_type=dataset_id,
            dataset_name=source,
            dataset_split=params.evaluate.split,
            metric_type="rouge",
            metric_name=ROUGE_NAMES[kind],
            metric_value=rouge[kind],
        )
        for kind in ROUGE_TYPES
    ]
    meta = ModelCardData(
        model_name=name,
        library_name="transformers",
        pipeline_tag="summarization",
        tags=["summarization", model_type, "dvc"],
        base_model=params.model.checkpoint if hub_checkpoint(params.model) else None,
        datasets=[params.fetch.hub.path] if params.fetch.source == "hub" else None,
        metrics=["rouge"],
        eval_results=results,
    )
    return f"---\n{meta.to_yaml()}\n---\n"


def hub_checkpoint(cfg: Model) -> bool:
    return cfg.checkpoint != EMBEDDED and not Path(cfg.checkpoint).expanduser().is_dir()


def base_checkpoint(cfg: Model) -> str:
    """How the weights began, as a clause: "fine-tuned from `t5-small` (revision ...)"."""
    if cfg.checkpoint == EMBEDDED:
        size = cfg.embedded
        return (
            f"trained from scratch (a small T5 built from the pipeline's config: d_model {size.d_model}, "
            f"d_ff {size.d_ff}, num_layers {size.num_layers}, num_heads {size.num_heads}; its word-level "
            "tokenizer learnt from the train split)"
        )
    where = (
        f"{markdown_code(cfg.checkpoint)} (revision {markdown_code(cfg.revision)})"
        if hub_checkpoint(cfg)
        else f"the local checkpoint {markdown_code(Path(cfg.checkpoint).name)}"
    )
    return (
        f"trained from fresh weights in the architecture of {where}" if cfg.from_scratch else f"fine-tuned from {where}"
    )


def data_source(cfg: Fetch) -> tuple[str, str]:
    """Where the data came from, in words, and the data set's id for the Hub's model-index."""
    if cfg.source == "hub":
        return f"{markdown_code(cfg.hub.path)} at revision {markdown_code(cfg.hub.revision)}", cfg.hub.path
    if cfg.source == "files":
        files = ", ".join(f"{split} {markdown_code(Path(path).name)}" for split, path in cfg.files.model_dump().items())
        return f"local files ({files})", "local-files"
    return "the pipeline's generated news corpus (`fetch.source: embedded`)", "embedded"
