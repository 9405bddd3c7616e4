"""A run whose loss or gradient norm stops being finite ends the train stage with one line naming the param to
change, exit 1 and no model written; a loss that stays finite but far too high is a warning."""

import logging

import pytest

from conftest import make_project, run_stages, set_params

pytestmark = pytest.mark.slow  # three training runs


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    """A project with its tokenized data and a previous model, trained for one epoch of 20 steps from now on."""
    repo = make_project(tmp_path_factory.mktemp("divergence") / "repo", {"train.num_train_epochs": 1})
    run_stages(repo, "fetch", "preprocess")
    (repo / "models/summarizer").mkdir(parents=True)
    (repo / "models/summarizer/model.safetensors").write_text("the previous model")
    return repo


def train_error(repo) -> str:
    """The train stage's one error line (its exit status is 1: sys.exit of a message)."""
    with pytest.raises(SystemExit) as exit_:
        run_stages(repo, "train")
    message = exit_.value.code
    assert isinstance(message, str) and "\n" not in message
    return message


def test_a_diverged_run_stops_with_one_line_and_keeps_the_previous_model(tokenized):
    set_params(tokenized, {"train.learning_rate": 1e30, "train.logging_steps": 2})
    message = train_error(tokenized)
    assert message.startswith("error: training diverged at step ")  # the first log past the warm-up's zero rate
    assert message.endswith(
        "(loss nan, gradient norm nan): lower train.learning_rate (now 1e+30); no model was written"
    )
    assert [path.name for path in (tokenized / "models/summarizer").iterdir()] == ["model.safetensors"]
    assert (tokenized / "models/summarizer/model.safetensors").read_text() == "the previous model"
    assert not (tokenized / "metrics/train.json").exists()


def test_a_finite_loss_far_above_an_untrained_models_is_a_warning(tokenized, capsys, caplog, monkeypatch):
    # transformers logs to a handler of its own, which holds the stderr of the process as it was at its import
    monkeypatch.setattr(logging.getLogger("transformers"), "propagate", True)
    set_params(tokenized, {"train.learning_rate": 5, "train.logging_steps": 20})
    run_stages(tokenized, "train")
    stderr = capsys.readouterr().err
    (warning,) = [line for line in stderr.splitlines() if "warning" in line]
    assert (
        warning.startswith("train: warning: the loss ended at ") and "is train.learning_rate (5) too high?" in warning
    )
    # the best checkpoint's tied embeddings, loaded at the end, are not missing
    assert "missing keys" not in stderr + caplog.text


def test_a_divergence_from_a_huge_weight_decay_names_it(tokenized):
    set_params(tokenized, {"train.learning_rate": 0.005, "train.weight_decay": 1e4, "train.logging_steps": 2})
    assert train_error(tokenized).endswith(": lower train.weight_decay (now 10000); no model was written")
