"""A run whose loss or gradient norm stops being finite ends the train stage with one line naming the param to
change, exit 1 and no model written; a loss that stays finite but far too high is a warning."""

import pytest

from conftest import make_repo, run, set_params


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    """A project with its tokenized data and a previous model, trained for one epoch of 20 steps from now on."""
    repo = make_repo(tmp_path_factory.mktemp("divergence") / "repo", {"train.num_train_epochs": 1})
    run("python -m stages.fetch && python -m stages.preprocess", repo)
    (repo / "models/summarizer").mkdir(parents=True)
    (repo / "models/summarizer/model.safetensors").write_text("the previous model")
    return repo


def test_a_diverged_run_stops_with_one_line_and_keeps_the_previous_model(tokenized):
    set_params(tokenized, {"train.learning_rate": 1e30, "train.logging_steps": 2})
    result = run("python -m stages.train", tokenized, ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: training diverged at step ")  # the first log past the warm-up's zero rate
    assert message.endswith(
        "(loss nan, gradient norm nan): lower train.learning_rate (now 1e+30); no model was written"
    )
    assert [path.name for path in (tokenized / "models/summarizer").iterdir()] == ["model.safetensors"]
    assert (tokenized / "models/summarizer/model.safetensors").read_text() == "the previous model"
    assert not (tokenized / "metrics/train.json").exists()


def test_a_finite_loss_far_above_an_untrained_models_is_a_warning(tokenized):
    set_params(tokenized, {"train.learning_rate": 5, "train.logging_steps": 20})
    result = run("python -m stages.train", tokenized)
    (warning,) = [line for line in result.stderr.splitlines() if "warning" in line]
    assert (
        warning.startswith("train: warning: the loss ended at ") and "is train.learning_rate (5) too high?" in warning
    )
    assert "missing keys" not in result.stderr  # the best checkpoint's tied embeddings, loaded at the end, are not


def test_a_divergence_from_a_huge_weight_decay_names_it(tokenized):
    set_params(tokenized, {"train.learning_rate": 0.005, "train.weight_decay": 1e4, "train.logging_steps": 2})
    result = run("python -m stages.train", tokenized, ok=False)
    assert (
        result.stderr.strip().splitlines()[-1].endswith(": lower train.weight_decay (now 10000); no model was written")
    )
