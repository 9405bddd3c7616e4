"""Token-budget batches in few shapes, and a step's loss as the mean over all its target tokens."""

import numpy as np
import pytest
import torch
from transformers import T5ForConditionalGeneration

from conftest import PROJECT
from helpers import tiny_t5_config
from summarization import batching, training
from summarization.batching import BucketCollator, Shapes, TokenBudgetSampler, epoch_shapes, length_buckets
from summarization.config import load_params
from summarization.errors import UserError

TRAIN = load_params(PROJECT / "params.yaml").train


def xsum_shaped(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token lengths like XSum's in t5-small's tokenizer (bench/throughput.py): documents log-normal around
    400 tokens cut at 1,024, one-sentence summaries around 27."""
    rng = np.random.default_rng(seed)
    source = np.minimum(rng.lognormal(np.log(400), 0.75, rows).round().astype(int) + 4, 1024)
    return source, np.minimum(rng.lognormal(np.log(27), 0.3, rows).round().astype(int) + 1, 128)


def train_cfg(**changes):
    return TRAIN.model_copy(update=changes)


def test_length_buckets_are_the_padded_lengths_that_pad_least():
    lengths = np.array([3, 5, 9, 16, 17, 40, 41, 100])
    assert length_buckets(lengths, None).tolist() == [8, 16, 24, 40, 48, 104]  # every multiple of 8 present
    assert length_buckets(lengths, 1).tolist() == [104]
    # 2 buckets: the choice of the first end minimises the padded tokens of all rows
    costs = {end: sum(end if length <= end else 104 for length in lengths) for end in (8, 16, 24, 40, 48)}
    assert length_buckets(lengths, 2).tolist() == [min(costs, key=costs.get), 104]
    assert length_buckets(lengths, 50).tolist() == length_buckets(lengths, None).tolist()


def test_an_xsum_shaped_epoch_has_at_most_16_shapes_and_a_tenth_padding():
    source, target = xsum_shaped(204_045)
    shapes = Shapes.of(train_cfg(max_tokens_per_batch=32_768, length_buckets=8), source, target)
    batches = list(TokenBudgetSampler(shapes, source, target, seed=0))
    counts, source_padding, _ = epoch_shapes(batches, shapes, source, target)
    assert len(counts) <= 16 and source_padding <= 0.10  # empty rows that fill a bucket's last batch included
    assert all(rows * length <= 32_768 for rows, length, _ in counts)


def test_token_budget_batches_cover_every_row_once_and_replay_from_seed_and_epoch():
    source, target = xsum_shaped(5_000)
    shapes = Shapes.of(train_cfg(max_tokens_per_batch=16_384, length_buckets=4), source, target)
    sampler = TokenBudgetSampler(shapes, source, target, seed=3)
    first = list(sampler)
    assert sorted(row for batch in first for row in batch) == list(range(5_000))
    assert len(first) == len(sampler)
    assert all(shapes.padded_source(int(source[batch].max())) * len(batch) <= 16_384 for batch in first)
    assert list(TokenBudgetSampler(shapes, source, target, seed=3)) == first  # a resumed run draws the same epoch
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and len(second) == len(first)  # a new order each epoch, as many batches


def test_a_budget_that_cannot_hold_the_longest_row_is_refused():
    source, target = xsum_shaped(100)
    with pytest.raises(UserError, match=r"train.max_tokens_per_batch \(512\) must hold the longest training row, 1024"):
        Shapes.of(train_cfg(max_tokens_per_batch=512, length_buckets=4), source, target)


def tiny_t5() -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    return T5ForConditionalGeneration(tiny_t5_config(vocab_size=40)).eval()


class Tokenizer:
    pad_token_id = 0


def test_collated_batches_have_their_buckets_shape_and_empty_rows_change_no_loss():
    model = tiny_t5()
    features = [{"input_ids": [5, 6, 7, 1], "labels": [8, 1]}, {"input_ids": [9, 1], "labels": [10, 11, 12, 1]}]
    shapes = Shapes(source=np.array([8, 24]), target=np.array([8, 16]), max_tokens=48)
    batch = BucketCollator(shapes, Tokenizer(), model)(features)
    assert batch["input_ids"].shape == (6, 8) and batch["labels"].shape == (6, 8)  # 48 // 8 rows, 4 of them empty
    assert batch["attention_mask"][:2].sum(dim=1).tolist() == [4, 2] and batch["attention_mask"][2:].sum() == 0
    unpadded = BucketCollator(Shapes(None, None, None), Tokenizer(), model)(features)
    assert unpadded["input_ids"].shape == (2, 8)  # without buckets: the longest row, up to a multiple of 8

    def loss(batch):
        labels = batch.pop("labels")
        return training.token_mean_loss(model(**batch), labels, (labels != batching.LABEL_PAD).sum())

    assert torch.allclose(loss(batch), loss(unpadded), rtol=1e-6)


def test_a_steps_loss_is_the_mean_over_all_its_target_tokens():
    """Two accumulated batches of 1 and 3 target tokens: each token weighs the same, as in one batch of both."""
    model = tiny_t5()
    collate = BucketCollator(Shapes(None, None, None), Tokenizer(), model)
    short, long = {"input_ids": [5, 1], "labels": [1]}, {"input_ids": [6, 7, 1], "labels": [8, 9, 1]}
    together = collate([short, long])
    tokens = (together["labels"] != batching.LABEL_PAD).sum()

    def summed(batch):
        labels = batch.pop("labels")
        return training.token_mean_loss(model(**batch), labels, tokens)

    accumulated = summed(collate([short])) + summed(collate([long]))
    assert torch.allclose(accumulated, summed(together), rtol=1e-6)
