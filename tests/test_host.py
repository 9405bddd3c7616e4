"""The host's work around a training step: no wait for the device, no KV cache, the attention unchanged; and the
allocator setting a no-op where there is no glibc."""

import platform

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import TrainerCallback
from transformers.models.t5 import modeling_t5

from bench.host import ROWS, batch_rows, near_free_model, shape_lengths, trainer_run
from summarization import environment, modeling

COPIES_TO_HOST = ("cpu", "tolist", "numpy")  # they dispatch nothing for a CPU tensor: counted by wrapping them


class HostWaits(TorchDispatchMode, TrainerCallback):
    """From each step's beginning to its end (the logging after it aside), the calls that make the host wait for a
    GPU's queue: a value read on the host (`.item()`, a tensor's truth value, float(): aten._local_scalar_dense) or
    a copy to it; and the KV caches made."""

    def __init__(self, monkeypatch):
        super().__init__()
        self.calls, self.active = [], False
        for name in COPIES_TO_HOST:
            monkeypatch.setattr(torch.Tensor, name, self.counted(name, getattr(torch.Tensor, name)))
        cache = modeling_t5.EncoderDecoderCache
        monkeypatch.setattr(cache, "__init__", self.counted("a KV cache", cache.__init__))

    def counted(self, name, function):
        def call(*args, **kwargs):
            if self.active:
                self.calls.append(name)
            return function(*args, **kwargs)

        return call

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.calls.append("a value read on the host")
        return func(*args, **(kwargs or {}))

    def on_step_begin(self, args, state, control, **kwargs):
        self.active = True
        self.__enter__()

    def on_step_end(self, args, state, control, **kwargs):
        self.__exit__(None, None, None)
        self.active = False


def test_training_steps_never_wait_for_the_device_nor_build_a_kv_cache(tmp_path, monkeypatch):
    waits = HostWaits(monkeypatch)
    dataset = batch_rows(shape_lengths(2), 4, 128)
    trainer_run(near_free_model(), dataset, "none", 0, str(tmp_path), waits)
    assert waits.calls == []


def test_eager_attention_mask_of_a_batch_without_padding_gives_the_same_bits():
    """transformers would skip the mask of a batch without padding after reading it on the host; a mask of zeros
    gives the same logits, bit for bit."""
    model = near_free_model().eval()
    batch = {"input_ids": torch.randint(3, 128, (ROWS, 24)), "decoder_input_ids": torch.randint(3, 128, (ROWS, 8))}
    with modeling.attention_registered():  # as in a training run
        masked = model(**batch, attention_mask=torch.ones_like(batch["input_ids"])).logits
    unmasked = model(**batch).logits  # no mask at all: nothing to skip
    assert torch.equal(masked, unmasked)


def test_freed_memory_is_kept_on_glibc_and_nothing_happens_elsewhere(monkeypatch):
    environment.keep_freed_memory()  # conftest set it already: setting it again changes nothing
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))  # macOS, musl
    monkeypatch.setattr(environment.ctypes, "CDLL", lambda *args: pytest.fail("mallopt called without glibc"))
    environment.keep_freed_memory()
