"""Any sequence-to-sequence model, not only T5: tiny local checkpoints of other architectures, built from
configs with tokenizers trained here (offline), run through the whole pipeline by params alone."""

import json
import logging

import pyarrow as pa
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoConfig,
    BartConfig,
    BartForConditionalGeneration,
    LEDConfig,
    LEDForConditionalGeneration,
    PegasusConfig,
    PegasusForConditionalGeneration,
    PreTrainedTokenizerFast,
)

from conftest import PIPELINE, PROJECT, make_project, run_stages
from helpers import auto_class_summaries, evaluated_documents
from summarization import corpus, modeling, tokenizing
from summarization.config import load_params
from summarization.data import encode_documents

CORPUS = {"seed": 0, "train_size": 96, "validation_size": 8, "test_size": 12}
MAX_SOURCE_LENGTH = 64  # shorter than most generated documents: truncation is part of what is checked
SIZES = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
}


def corpus_train() -> pa.Table:
    return corpus.generate(load_params(PROJECT / "params.yaml").fetch.embedded.model_copy(update=CORPUS))["train"]


def bart_tokenizer(train: pa.Table) -> PreTrainedTokenizerFast:
    """BART's conventions on a small byte-level BPE: <s> 0, <pad> 1, </s> 2, <unk> 3, each text as <s> ... </s>."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        train.column("document").to_pylist() + train.column("summary").to_pylist(),
        trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def pegasus_tokenizer(train: pa.Table) -> PreTrainedTokenizerFast:
    """Pegasus's conventions (<pad> 0, </s> 1, <unk> 2, each text ends with </s>) are T5's: the embedded tokenizer."""
    return tokenizing.build_embedded_tokenizer(train.to_batches(), "", 600)


def bart(tokenizer) -> BartForConditionalGeneration:
    return BartForConditionalGeneration(BartConfig(vocab_size=len(tokenizer), max_position_embeddings=128, **SIZES))


def led(tokenizer) -> LEDForConditionalGeneration:
    """Longformer's local attention (windows of 16 tokens here): no SDPA in transformers, it keeps its eager
    attention."""
    return LEDForConditionalGeneration(
        LEDConfig(
            vocab_size=len(tokenizer),
            attention_window=16,
            max_encoder_position_embeddings=128,
            max_decoder_position_embeddings=64,
            **SIZES,
        )
    )


def pegasus(tokenizer) -> PegasusForConditionalGeneration:
    return PegasusForConditionalGeneration(
        PegasusConfig(vocab_size=len(tokenizer), max_position_embeddings=128, **SIZES)
    )


ARCHITECTURES = {"bart": (bart_tokenizer, bart), "pegasus": (pegasus_tokenizer, pegasus)}  # LED only below: time
# BART trains LoRA adapters on every linear layer with the memory savers (the shareable model is then the
# adapter merged into its base); Pegasus is fine-tuned whole.
TRAINING = {
    "bart": {
        "train.lora.r": 4,
        "train.lora.target_modules": "all-linear",
        "train.gradient_checkpointing": True,
        "train.optim": "adafactor",
    },
    "pegasus": {},
}


def checkpoint(directory, architecture: str):
    """A local checkpoint as the Hub holds one: a tokenizer and a model of random weights, saved together."""
    make_tokenizer, make_model = ARCHITECTURES[architecture]
    tokenizer = make_tokenizer(corpus_train())
    tokenizer.save_pretrained(directory)
    make_model(tokenizer).save_pretrained(directory)
    return directory


def test_bart_tokenizer_truncation_keeps_its_special_tokens_as_preprocess_does():
    tokenizer = bart_tokenizer(corpus_train())
    document = corpus_train().column("document")[0].as_py()
    (cut,) = encode_documents(tokenizer, [document], "", 16).to_pylist()
    assert len(tokenizer(document)["input_ids"]) > 16
    assert cut == tokenizer(document, truncation=True, max_length=16)["input_ids"]
    assert len(cut) == 16 and cut[0] == tokenizer.bos_token_id and cut[-1] == tokenizer.eos_token_id


def test_models_fine_tune_with_eager_attention_and_generate_with_sdpa_where_they_have_it(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("transformers"), "propagate", True)  # transformers logs to its own handler
    tokenizer = bart_tokenizer(corpus_train())
    params = load_params(PROJECT / "params.yaml").model
    for name, architecture, generating in (("bart", bart, "sdpa"), ("led", led, "eager")):  # LED has no SDPA
        architecture(tokenizer).save_pretrained(tmp_path / name)
        trained = modeling.load_model(
            params.model_copy(update={"checkpoint": str(tmp_path / name)}), tokenizer, "eager"
        )
        assert trained.config._attn_implementation == "eager", name
        trained.save_pretrained(tmp_path / f"{name}-trained")  # as the train stage writes it
        tokenizer.save_pretrained(tmp_path / f"{name}-trained")
        _, model = modeling.load_trained(tmp_path / f"{name}-trained", "")
        assert model.config._attn_implementation == generating, name
    assert "does not support" not in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_local_checkpoint_runs_through_the_pipeline(tmp_path, architecture):
    model_dir = checkpoint(tmp_path / architecture, architecture)
    repo = make_project(
        tmp_path / "repo",
        {
            **{f"fetch.embedded.{key}": value for key, value in CORPUS.items()},
            "model.checkpoint": str(model_dir),
            "preprocess.prefix": "",
            "preprocess.max_source_length": MAX_SOURCE_LENGTH,
            "preprocess.max_target_length": 32,
            "train.num_train_epochs": 4,
            "train.logging_steps": 5,
            "train.eval_strategy": "no",
            "train.load_best_model_at_end": False,
            "evaluate.generation_max_length": 16,
            **TRAINING[architecture],
        },
    )
    run_stages(repo, *PIPELINE)
    trainer_arguments = (repo / "dvclive/params.yaml").read_text()
    losses = [
        float(row.split("\t")[-1]) for row in (repo / "dvclive/plots/metrics/loss.tsv").read_text().splitlines()[1:]
    ]
    assert losses[-1] < losses[0]
    if TRAINING[architecture]:
        assert "activation_checkpointing: true" in trainer_arguments and "optim: adafactor" in trainer_arguments
        assert (repo / "models/summarizer/adapter_model.safetensors").is_file()
    assert json.loads((repo / "metrics/data.json").read_text())["test"]["source_truncated"] > 0
    # the checkpoint before fine-tuning, scored as the trained model is
    assert json.loads((repo / "metrics/pretrained.json").read_text())["n"] == CORPUS["test_size"]
    predictions = [json.loads(line) for line in (repo / "data/predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == CORPUS["test_size"]
    shareable = repo / "models/shareable"
    config = AutoConfig.from_pretrained(shareable)
    assert config.model_type == architecture and config.task_specific_params["summarization"]["prefix"] == ""
    documents = evaluated_documents(repo)
    assert auto_class_summaries(shareable, [documents[row["id"]] for row in predictions]) == [
        row["prediction"] for row in predictions
    ]
