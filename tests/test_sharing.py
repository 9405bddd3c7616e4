"""Experiments and sharing, as the README shows them: DVCLive curves and plots, `dvc exp`, branch
comparison with the significance command, DVC remotes (a local directory and S3 on loopback), and the
shareable model: its Auto-class use, its card, the summarize command and `dvc artifacts get`."""

import json
import socket
import subprocess
import sys
import time

import pytest
import yaml
from huggingface_hub import ModelCard

from conftest import run, set_params, stages_run
from helpers import auto_class_summaries, evaluated_documents
from summarization import environment, modeling, significance

pytestmark = pytest.mark.slow  # the pipeline run, then dvc exp, remotes and clones


@pytest.fixture
def shared(pipeline):
    """A repository whose pipeline has run and been committed on main (conftest's, shared with test_pipeline.py)."""
    return pipeline


def workspace_files(repo) -> dict:
    paths = [
        "metrics/rouge.json",
        "metrics/train.json",
        "reports/environment.json",
        "data/predictions.jsonl",
        "models/summarizer/model.safetensors",
        "models/shareable/README.md",
    ]
    return {path: (repo / path).read_bytes() for path in paths}


def test_training_curves_and_plots(shared):
    losses = (shared / "dvclive/plots/metrics/loss.tsv").read_text().splitlines()
    assert losses[0] == "step\tloss" and len(losses) > 5
    plots = json.loads(run("dvc plots show --json", shared).stdout)["data"]
    assert {"Loss", "Validation ROUGE", "Learning rate", "Summary length", "Extractive coverage"} <= plots.keys()
    coverage = plots["Extractive coverage"][0]["content"]["data"]["values"]
    assert {row["field"] for row in coverage} == {"predictions", "references"}  # side by side
    lengths = plots["Summary length"][0]["content"]
    assert lengths["mark"]["type"] == "bar" and lengths["encoding"]["color"]["field"] == "field"  # a colour each
    run("dvc plots show", shared)
    page = (shared / "dvc_plots/index.html").read_text()
    assert "window.vegaEmbed" in page and "<script src=" not in page  # Vega inline, no CDN: renders offline
    assert "Loss" in json.loads(run("dvc plots diff HEAD --json", shared).stdout)["data"]


def test_plots_show_on_a_clone_where_make_setup_never_ran(shared, tmp_path):
    # A colleague's clone, set up with `pip install -e .` (README) and not make setup: the offline page comes with
    # the repository; the pipeline's outputs come from the original's cache, as after a `dvc pull`
    run(f"git clone -q {shared} clone", tmp_path)
    clone = tmp_path / "clone"
    run(f"dvc cache dir --local {shared / '.dvc/cache'} && dvc checkout -q && dvc plots show", clone)
    page = (clone / "dvc_plots/index.html").read_text()
    assert "window.vegaEmbed" in page and "<script src=" not in page and "Validation ROUGE" in page


def test_logged_params_hold_no_secret(shared):
    logged = yaml.safe_load((shared / "dvclive/params.yaml").read_text())
    assert logged["learning_rate"] == 0.005 and logged["output_dir"] == "models/checkpoints"
    for key, value in logged.items():
        if "token" in key and isinstance(value, str):
            assert value.startswith("<") and value.endswith(">"), f"{key} is logged in clear"


def test_environment_is_recorded_beside_the_metrics(shared):
    env = json.loads((shared / "reports/environment.json").read_text())
    assert {"python", "torch", "transformers", "datasets", "dvc", "device", "precision", "git_revision"} <= env.keys()
    assert env["precision"] == modeling.resolve_precision("auto") and len(env["git_revision"]) >= 40


def read_predictions(repo) -> dict[str, str]:
    return {
        row["id"]: row["prediction"]
        for row in map(json.loads, (repo / "data/predictions.jsonl").read_text().splitlines())
    }


def test_the_shareable_model_alone_reproduces_the_evaluated_summaries(shared):
    shareable = shared / "models/shareable"
    generation = json.loads((shareable / "generation_config.json").read_text())
    assert generation["max_length"] == 24 and generation["num_beams"] == 1  # TINY's evaluate settings
    assert generation["decoder_start_token_id"] == generation["pad_token_id"] == 0 and generation["eos_token_id"] == 1
    assert json.loads((shareable / "tokenizer_config.json").read_text())["model_max_length"] == 1024
    assert (shareable / "model.safetensors").read_bytes() == (
        shared / "models/summarizer/model.safetensors"
    ).read_bytes()
    predictions, documents = read_predictions(shared), evaluated_documents(shared)
    # evaluate generated in padded batches of 64; here each document runs alone, unpadded
    assert auto_class_summaries(shareable, [documents[id_] for id_ in predictions]) == list(predictions.values())


def test_the_model_card_holds_what_a_colleague_needs(shared):
    """The Hub's own reader (huggingface_hub) takes the card's metadata and its model-index results back."""
    card = ModelCard.load(shared / "models/shareable/README.md")
    meta, body = card.data, card.text
    assert meta.library_name == "transformers" and meta.pipeline_tag == "summarization" and "t5" in meta.tags
    rouge = json.loads((shared / "metrics/rouge.json").read_text())
    assert {result.dataset_split for result in meta.eval_results} == {"test"}
    assert {result.metric_name: result.metric_value for result in meta.eval_results} == {
        "ROUGE-1": rouge["rouge1"],
        "ROUGE-2": rouge["rouge2"],
        "ROUGE-L": rouge["rougeL"],
        "ROUGE-Lsum": rouge["rougeLsum"],
    }
    interval = rouge["bootstrap"]["rouge1"]
    environment = json.loads((shared / "reports/environment.json").read_text())
    for text in [
        "AutoModelForSeq2SeqLM.from_pretrained",
        "trained from scratch",
        "generated news corpus",
        "| test | 24 |",
        "| `train.learning_rate` | `0.005` |",
        "| `preprocess.prefix` | `'summarize: '` |",
        f"| rouge1 | {rouge['rouge1']:.2f} | {interval['low']:.2f} to {interval['high']:.2f} | "
        f"{json.loads((shared / 'metrics/lead1.json').read_text())['rouge1']:.2f} |",
        f"| novel bigrams | {rouge['novel_2']:.1%} |",  # how abstractive, beside the references and lead-1
        f"| `git_revision` | `{environment['git_revision']}` |",
        f"| `torch` | `{environment['torch']}` |",
    ]:
        assert text in body, text


def test_summarize_writes_the_evaluated_summaries(shared, tmp_path):
    documents = evaluated_documents(shared)
    rows = tmp_path / "test.jsonl"
    rows.write_text("".join(json.dumps({"id": id_, "document": text}) + "\n" for id_, text in documents.items()))
    run(f"python -m summarization.summarize {rows} --output {tmp_path / 'summaries.jsonl'}", shared)
    summaries = [json.loads(line) for line in (tmp_path / "summaries.jsonl").read_text().splitlines()]
    assert {row["id"]: row["summary"] for row in summaries} == read_predictions(shared)


def test_artifacts_get_fetches_the_model_from_a_colleagues_repository(shared, tmp_path):
    """A registered version (a GTO tag) of the artifact in dvc.yaml, fetched through the DVC remote."""
    run(
        f"dvc remote add -d registry {tmp_path / 'storage'} && git commit -qam 'add remote' && dvc push -q "
        "&& gto register summarizer --version v1.0.0",
        shared,
    )
    colleague = tmp_path / "colleague"
    colleague.mkdir()
    run(f"dvc artifacts get {shared} summarizer -o model", colleague)
    assert (colleague / "model/model.safetensors").read_bytes() == (
        shared / "models/shareable/model.safetensors"
    ).read_bytes()
    document_id, document = next(iter(evaluated_documents(shared).items()))
    (colleague / "article.txt").write_text(document)
    result = run(
        f"python -m summarization.summarize --model {colleague / 'model'} {colleague / 'article.txt'} - "
        f"< {colleague / 'article.txt'}",
        shared,
    )  # a file, and the same document on standard input
    assert result.stdout.splitlines() == [read_predictions(shared)[document_id]] * 2
    run("git tag -d summarizer@v1.0.0 && dvc remote remove registry && git commit -qam 'remove remote'", shared)


def test_queued_sweep_shows_rouge_without_stray_experiments(shared):
    # up to the stage whose metrics are compared: examples and export read nothing the sweep shows
    run("dvc exp run --queue -S train.learning_rate=0.002,0.003 -S train.num_train_epochs=1 evaluate", shared)
    # The worker it starts keeps the output it was given open: a terminal's does not hold the shell, but a pipe's end
    # would hold run() until the worker exits, 10 s after the queue empties
    run("dvc queue start > /dev/null 2>&1", shared)
    head = run("git rev-parse HEAD", shared).stdout.strip()
    deadline = time.monotonic() + 180
    # Each experiment's ref is written as it ends: watched twice a second, where `dvc queue status` takes a second of
    # CPU a call from the experiments
    while len(run(f"git for-each-ref refs/exps/{head[:2]}/{head[2:]}", shared).stdout.splitlines()) < 2:
        assert time.monotonic() < deadline, run("dvc queue status", shared).stdout
        time.sleep(0.5)
    while "Queued" in (status := run("dvc queue status", shared).stdout) or "Running" in status:
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    experiments = json.loads(run("dvc exp show --json", shared).stdout)
    baseline = next(entry for entry in experiments if entry["rev"] != "workspace")
    runs = [experiment["revs"][0]["data"] for experiment in baseline["experiments"]]
    assert len(runs) == 2  # one an -S value: DVCLive saved no experiment of its own
    assert sorted(data["params"]["params.yaml"]["data"]["train"]["learning_rate"] for data in runs) == [0.002, 0.003]
    assert all("rouge1" in data["metrics"]["metrics/rouge.json"]["data"] for data in runs)
    run("dvc queue stop && dvc exp remove --all", shared)


def test_branches_compare_with_significance(shared, monkeypatch, capsys):
    run("git checkout -qb tiny-lr", shared)
    set_params(shared, {"train.learning_rate": 1e-6, "train.num_train_epochs": 1})  # an untrained model, clearly worse
    run("dvc repro evaluate && git add -A && git commit -qm 'lr 1e-6'", shared)  # the predictions significance reads
    diff = json.loads(run("dvc metrics diff main tiny-lr --json", shared).stdout)["metrics/rouge.json"]
    assert diff["rouge1"]["diff"] < 0
    result = json.loads(run("significance main tiny-lr --json", shared).stdout)
    assert result["rouge1"]["delta"] < 0 and result["rouge1"]["p"] < 0.05
    assert result["rouge1"]["low"] <= result["rouge1"]["delta"] <= result["rouge1"]["high"]
    missing = run("significance main no-such-branch", shared, ok=False)
    assert missing.returncode == 1 and missing.stderr.startswith(
        "error: cannot read data/predictions.jsonl at no-such-branch"
    )
    monkeypatch.chdir(shared)

    def compared(*arguments: str) -> str:
        """What `significance ARGUMENTS` prints, run in this process (a new one, as above, takes a second more)."""
        monkeypatch.setattr(sys, "argv", ["significance", *arguments])
        significance.main()
        return capsys.readouterr().out

    table = compared("main", "tiny-lr")
    assert "A = main, B = tiny-lr, 24 paired examples" in table and "rouge1" in table
    markdown = compared("main", "tiny-lr", "--md")
    assert "| ROUGE | delta (B - A) | 95% interval | p-value | significant |" in markdown
    predictions = {
        row["id"]: row for row in map(json.loads, (shared / "data/predictions.jsonl").read_text().splitlines())
    }
    examples = compared("main", "tiny-lr", "--examples", "2")
    assert "Rose most (rougeL, B - A)" in examples and "Fell most (rougeL, B - A)" in examples
    assert 1 <= examples.count("\n  reference  ") <= 4 and all(len(line) < 120 for line in examples.splitlines())
    fell = compared("main", "tiny-lr", "--md", "--examples", "2").split("**Fell most (rougeL, B - A)**")[1]
    assert "| id | change | reference | A | B |" in fell
    ids = [line.split(" | ")[0].removeprefix("| ") for line in fell.strip().splitlines()[2:]]
    assert len(ids) == 2 and all(" ".join(predictions[i]["prediction"].split()) in fell for i in ids)  # B's, whole
    copied = compared("main", "tiny-lr", "--examples", "2", "--by", "novel_2")  # share of novel bigrams
    assert "Rose most (novel_2, B - A)" in copied and "Fell most (novel_2, B - A)" in copied
    # the paired examples on a page, side by side, the most moved first (tests/test_examples_page.py renders it)
    assert "wrote compared.html" in compared("main", "tiny-lr", "--page", "compared.html")
    page = (shared / "compared.html").read_text()
    assert "A = main, B = tiny-lr: all 24 paired examples" in page and page.count('["B",') == 24
    (shared / "compared.html").unlink()
    same = json.loads(compared("main", "main", "--json"))
    assert all(r["delta"] == 0 and r["p"] == 1 for r in same.values())
    run("git checkout -q main && dvc checkout", shared)


def test_local_remote_push_clone_pull_and_run_cache(shared, tmp_path):
    run(
        f"dvc remote add -d storage {tmp_path / 'storage'} && git commit -qam 'add remote' && dvc push --run-cache",
        shared,
    )
    clone = tmp_path / "clone"
    run(f"git clone -q {shared} {clone}", tmp_path)
    run("dvc pull", clone)
    assert stages_run(run("dvc repro", clone).stdout) == []
    assert workspace_files(clone) == workspace_files(shared)
    # a second colleague pulls only what the pipeline needs, and runs nothing
    subset = tmp_path / "subset"
    run(f"git clone -q {shared} {subset}", tmp_path)
    assert stages_run(run("dvc repro --pull --allow-missing", subset).stdout) == []
    # outputs and their lock entry gone: the run-cache from the remote brings them back without running
    run("dvc pull --run-cache && rm -rf dvc.lock data/raw", clone)
    output = run("dvc repro fetch", clone).stdout
    assert stages_run(output) == [] and "Stage 'fetch' is cached - skipping run, checking out outputs" in output
    assert workspace_files(clone) == workspace_files(shared)


def test_local_run_cache_restores_every_stage(shared):
    before = workspace_files(shared)
    run("rm -rf dvc.lock data/raw data/tokenized models data/predictions.jsonl metrics reports", shared)
    output = run("dvc repro", shared).stdout
    assert stages_run(output) == [] and output.count("is cached - skipping run, checking out outputs") == 8
    assert workspace_files(shared) == before
    run("git checkout -- .", shared)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible server (moto) on loopback, with one bucket."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="team-dvc")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_s3_remote_push_clone_pull(shared, tmp_path, s3_endpoint):
    run(
        f"dvc remote add s3store s3://team-dvc/cache && dvc remote modify s3store endpointurl {s3_endpoint} "
        "&& dvc remote modify --local s3store access_key_id testing "
        "&& dvc remote modify --local s3store secret_access_key testing "
        "&& git add .dvc/config && git commit -qm 'add s3 remote' && dvc push -r s3store --run-cache",
        shared,
    )
    committed = run("git show HEAD:.dvc/config", shared).stdout
    assert "testing" not in committed and "secret" not in committed  # credentials stay in .dvc/config.local
    clone = tmp_path / "clone"
    run(f"git clone -q {shared} {clone}", tmp_path)
    run(
        "dvc remote modify --local s3store access_key_id testing "
        "&& dvc remote modify --local s3store secret_access_key testing && dvc pull -r s3store",
        clone,
    )
    assert stages_run(run("dvc repro", clone).stdout) == []
    assert workspace_files(clone) == workspace_files(shared)


def test_git_revision_is_clean_after_the_pipeline_rewrites_its_records(tmp_path, monkeypatch):
    """train writes metrics/train.json (git-tracked) before it describes where it ran, and DVC rewrites dvc.lock
    after every stage: neither is a change of the code the model was trained with."""
    monkeypatch.chdir(tmp_path)
    run(
        "git init -q && mkdir metrics && echo 1 > metrics/train.json && echo 1 > dvc.lock && echo 1 > params.yaml",
        tmp_path,
    )
    run("git add -A && git commit -qm init && echo 2 > metrics/train.json && echo 2 > dvc.lock", tmp_path)
    head = run("git rev-parse HEAD", tmp_path).stdout.strip()
    assert environment.git_revision() == head
    (tmp_path / "params.yaml").write_text("2\n")
    assert environment.git_revision() == head + "+changes"


def test_git_revision_says_so_when_git_is_not_installed(tmp_path, monkeypatch):
    """A machine without the git program (a container with the code copied in) still gets its model written."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no git on the PATH
    assert environment.git_revision() == "unknown (git not installed)"
