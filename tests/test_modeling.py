"""Tokenizers and models from every kind of checkpoint, and their one-line errors."""

import ast
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
import torch
from transformers import AutoTokenizer, set_seed

from conftest import PROJECT, T5_TOKENIZER, needs_fixtures
from helpers import PARAMS, model_cfg, tiny_t5_dir
from summarization import corpus, modeling, tokenizing
from summarization.data import MADE_FROM, encode_documents, encode_split, read_split
from summarization.errors import UserError
from summarization.generation import generate_summaries, generated_lengths


def test_embedded_tokenizer_round_trips_text_and_appends_eos():
    train = pa.table({"document": ["A 55-year-old from Upwell, he said."], "summary": ['"Profits rose," it said.']})
    tokenizer = tokenizing.build_embedded_tokenizer(train.to_batches(), "summarize: ", 100)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "</s>", "<unk>"]
    ids = tokenizer("summarize: A 55-year-old from Upwell, he said.")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "summarize: A 55-year-old from Upwell, he said."


def test_embedded_model_is_a_t5_sized_by_params():
    train = pa.table({"document": ["one two three"], "summary": ["four"]})
    tokenizer = tokenizing.build_embedded_tokenizer(train.to_batches(), "summarize: ", 100)
    model = modeling.load_model(PARAMS.model, tokenizer, "eager")
    assert model.config.d_model == PARAMS.model.embedded.d_model and model.config.vocab_size == len(tokenizer)


@needs_fixtures
def test_local_checkpoint_directory(tmp_path):
    cfg = model_cfg(checkpoint=str(tiny_t5_dir(tmp_path)))
    tokenizer = tokenizing.load_tokenizer(cfg)
    assert len(tokenizer) == 32101 and tokenizer("summarize: hi")["input_ids"][-1] == 1
    model = modeling.load_model(cfg, tokenizer, "eager")
    assert model.config.d_model == 16


@needs_fixtures
def test_from_scratch_builds_t5_small_from_its_config():
    cfg = model_cfg(checkpoint=str(T5_TOKENIZER), from_scratch=True)  # config and tokenizer, no weights
    model = modeling.load_model(cfg, tokenizing.load_tokenizer(cfg), "eager")
    assert model.config.d_model == 512 and 60e6 < model.num_parameters() < 61e6


@needs_fixtures
def test_tokenizer_and_model_vocab_mismatch(tmp_path):
    cfg = model_cfg(checkpoint=str(tiny_t5_dir(tmp_path, vocab_size=100)))
    with pytest.raises(UserError, match="has 100 embeddings but its tokenizer has 32101 tokens"):
        modeling.load_model(cfg, tokenizing.load_tokenizer(cfg), "eager")


def test_missing_or_empty_checkpoint_directory(tmp_path):
    with pytest.raises(UserError, match=r"model.checkpoint: no such directory ./missing-model"):
        tokenizing.load_tokenizer(model_cfg(checkpoint="./missing-model"))
    with pytest.raises(UserError, match=r"model.checkpoint: cannot load the tokenizer of .*: "):
        tokenizing.load_tokenizer(model_cfg(checkpoint=str(tmp_path)))


def test_hub_checkpoint_unreachable_is_one_line():
    with pytest.raises(UserError) as error:
        tokenizing.load_tokenizer(model_cfg(checkpoint="t5-small"))
    message = str(error.value)
    assert message.startswith(
        "model.checkpoint: cannot load the tokenizer of t5-small (is the Hugging Face Hub reachable?"
    )
    assert "\n" not in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU's answers; test_gpu.py checks a GPU's")
def test_precision_on_cpu():
    assert modeling.resolve_precision("auto") == "fp32"
    with pytest.raises(UserError, match="train.precision: fp16 needs a CUDA GPU; use auto or fp32 on the CPU"):
        modeling.resolve_precision("fp16")


def test_flex_attention_is_refused_where_it_cannot_train():
    with pytest.raises(
        UserError,
        match=r"^train.attention: flex needs a CUDA GPU to train \(torch has no FlexAttention "
        r"backward on the CPU\): use eager or sdpa$",
    ):
        modeling.training_attention("flex")
    assert modeling.training_attention("sdpa") == "sdpa"
    tokenizer = tokenizing.build_embedded_tokenizer(
        pa.table({"document": ["a b"], "summary": ["c"]}).to_batches(), "", 16
    )
    with pytest.raises(
        UserError,
        match=r"^train.attention: flex has no attention dropout, and the model's \(embedded\) "
        r"is 0.1: use eager or sdpa$",
    ):
        modeling.load_model(
            model_cfg(embedded=PARAMS.model.embedded.model_copy(update={"dropout_rate": 0.1})), tokenizer, "flex"
        )


def test_flex_attention_forward_equals_eager_and_generates_as_eager():
    """FlexAttention's forward pass (the CPU has no backward for it: test_gpu.py checks the gradients) on rows of
    several lengths, padded: T5's position bias and both masks. Each attention is compiled on first use (~30 s here)."""
    stories = [corpus.story(random.Random(n)) for n in range(6)]
    train = pa.table(
        {"document": [document for document, _ in stories], "summary": [summary for _, summary in stories]}
    )
    tokenizer = tokenizing.build_embedded_tokenizer(train.to_batches(), "summarize: ", 500)
    cfg = model_cfg(embedded=PARAMS.model.embedded.model_copy(update={"d_model": 64, "d_ff": 128, "num_heads": 2}))
    models = {}
    for attention in ("eager", "flex"):
        set_seed(0)
        models[attention] = modeling.load_model(cfg, tokenizer, attention).train()  # dropout_rate 0: as training runs
    sources = encode_documents(tokenizer, train.column("document").to_pylist(), "summarize: ", 96)
    targets = encode_documents(tokenizer, train.column("summary").to_pylist(), "", 32)
    batch = tokenizer.pad({"input_ids": sources.to_pylist()}, return_tensors="pt")
    labels = tokenizer.pad({"input_ids": targets.to_pylist()}, return_tensors="pt")["input_ids"]
    batch["labels"] = labels.masked_fill(labels == tokenizer.pad_token_id, -100)
    assert not batch["attention_mask"].all() and (batch["labels"] == -100).any()  # rows of several lengths
    with modeling.attention_registered():  # as SummarizationTrainer.train runs its steps and evaluations
        with torch.no_grad():
            eager, flex = (models[attention](**batch) for attention in ("eager", "flex"))
        print(
            f"loss: eager {eager.loss.item():.7f}, flex {flex.loss.item():.7f}, "
            f"largest logit difference {(eager.logits - flex.logits).abs().max().item():.2e}"
        )
        assert flex.loss.item() == pytest.approx(eager.loss.item(), rel=1e-5)
        torch.testing.assert_close(flex.logits, eager.logits, rtol=1e-4, atol=1e-5)
        summaries = {
            attention: generate_summaries(models[attention], tokenizer, sources, 4, 16, 1) for attention in models
        }
    assert summaries["flex"] == summaries["eager"]
    assert models["flex"].config._attn_implementation == modeling.FLEX_ATTENTION  # back to training's attention


@needs_fixtures
def test_encode_truncates_keeping_eos_and_counts_truncation(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(T5_TOKENIZER)
    table = pa.table(
        {
            "id": ["a", "b"],
            "document": ["one two three four five six seven eight", "short"],
            "summary": ["a summary", "b"],
        }
    )
    cfg = PARAMS.preprocess.model_copy(update={"max_source_length": 6})
    lengths = encode_split(table.to_batches(), tokenizer, cfg, tmp_path, "train", {MADE_FROM: "raw digest"})
    long_ids = read_split(tmp_path, "train").column("input_ids").to_pylist()[0]
    assert len(long_ids) == 6 and long_ids[-1] == tokenizer.eos_token_id
    assert long_ids[:5] == tokenizer("summarize: one two three four five six seven eight")["input_ids"][:5]
    assert lengths.truncation(cfg) == {"rows": 2, "source_truncated": 0.5, "target_truncated": 0}
    assert lengths.percentiles()["source_tokens"]["max"] == len(
        tokenizer("summarize: one two three four five six seven eight")["input_ids"]
    )


def test_remote_code_in_a_checkpoint_is_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    (tmp_path / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil",
                "auto_map": {
                    "AutoConfig": "modeling_evil.EvilConfig",
                    "AutoModelForSeq2SeqLM": "modeling_evil.EvilModel",
                },
            }
        )
    )
    with pytest.raises(UserError, match=f"^model.checkpoint: {tmp_path} names Python code of its own"):
        modeling.load_model(model_cfg(checkpoint=str(tmp_path), from_scratch=True), None, "eager")
    assert not marker.exists()


def from_pretrained_uses(path: Path) -> tuple[list[int], list[int]]:
    """The lines of a module that call or name a from_pretrained: inside tokenizing.pretrained, and elsewhere."""
    tree = ast.parse(path.read_text())
    loader = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and (path.name, node.name) == ("tokenizing.py", "pretrained")
        for inner in ast.walk(node)
    }
    uses = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "from_pretrained"]
    return [node.lineno for node in uses if id(node) in loader], [
        node.lineno for node in uses if id(node) not in loader
    ]


def test_every_from_pretrained_goes_through_the_one_loader():
    """tokenizing.pretrained is the package's one use of from_pretrained: another would be free to leave
    trust_remote_code out, and transformers then asks, and runs the folder's code on a yes from stdin."""
    modules = sorted([*(PROJECT / "summarization").glob("*.py"), *(PROJECT / "stages").glob("*.py")])
    assert {str(path): from_pretrained_uses(path)[1] for path in modules} == {str(path): [] for path in modules}
    assert len(from_pretrained_uses(PROJECT / "summarization/tokenizing.py")[0]) == 1


def test_gen_len_counts_each_row_up_to_its_first_eos():
    # beam search pads finished rows with EOS (1), greedy search with PAD (0); the decoder starts with PAD
    beams = torch.tensor([[0, 7, 8, 9, 1], [0, 7, 1, 1, 1], [0, 7, 8, 1, 1]])
    greedy = torch.tensor([[0, 7, 8, 9, 1], [0, 7, 1, 0, 0], [0, 7, 8, 9, 9]])  # the last row hit max_length
    assert generated_lengths(beams, pad=0, eos=1) == [4, 2, 3]
    assert generated_lengths(greedy, pad=0, eos=1) == [4, 2, 4]
