"""Stacked MNIST: the stacks every machine builds, the mode figures on sets whose answer is
known (real stacks, one collapsed stack, ten stacks), 3-channel architectures, and a run,
its report and its evaluation end to end."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bench.data import datasets
from bench.cli import app
from bench.errors import BenchError
from bench.eval import stacked
from bench.records import deterministic_view, load_record
from test_reliability import assert_resume_gives, records_in, sigkill_after_a_checkpoint  # noqa: E402
from variants import ARCH_SPECS, RegistryError, combine, get_variant

pytestmark = pytest.mark.xdist_group("test_stacked")

runner = CliRunner()
CPU = torch.device("cpu")
RUN = ["run", "--variants", "dcgan", "--dataset", "stacked-mnist", "--preset", "tiny", "--device", "cpu"]


@pytest.fixture(scope="module")
def stacks(mnist_dir):
    return datasets.DATASETS["stacked-mnist"].load(mnist_dir)


@pytest.fixture(scope="module")
def cache_dir(mnist_dir):
    # The runs' own cache (keyed by classifier, stacks and device): the reference stacks'
    # features, 78,000 digits through the classifier, are computed once per machine.
    return mnist_dir / "fid-cache"


# ---------------------------------------------------------------- the data

@pytest.mark.slow
def test_stacks_are_pinned_shaped_and_drawn_from_the_right_split(stacks, mnist):
    assert stacks["train_images"].shape == (128_000, 3, 28, 28)
    assert stacks["reference_images"].shape == (26_000, 3, 28, 28)
    assert stacks["train_images"].dtype == torch.uint8
    assert stacks["sha256"] == datasets.STACKED_SHA256
    # Each channel is a whole digit of the right split, with its label: rebuild a few stacks by index.
    index = np.random.RandomState(datasets.STACK_SEEDS["train"]).randint(0, 60000, size=(5, 3), dtype=np.int64)
    for i in range(5):
        for k in range(3):
            assert torch.equal(stacks["train_images"][i, k], mnist["train_images"][index[i, k], 0])
            assert stacks["train_labels"][i, k] == mnist["train_labels"][index[i, k]]
    index = np.random.RandomState(datasets.STACK_SEEDS["reference"]).randint(0, 10000, size=(2, 3), dtype=np.int64)
    assert torch.equal(stacks["reference_images"][1, 2], mnist["test_images"][index[1, 2], 0])
    # All 1,000 modes are in the training stacks, and the reference stacks are close to uniform.
    assert len(datasets.mode_ids(stacks["train_labels"]).unique()) == 1000
    reference = stacked.histogram_figures(stacks["reference_labels"])
    print(f"\nthe 26,000 reference stacks, from their true labels: {reference}")
    assert reference["stacked_modes"] == 1000 and reference["stacked_kl"] < 0.05


@pytest.mark.slow
def test_stacks_that_differ_from_the_pinned_ones_are_refused(mnist_dir, monkeypatch):
    monkeypatch.setitem(datasets.STACKED_SHA256, "train_images", "0" * 64)
    with pytest.raises(BenchError, match="train_images does not match its pinned sha256"):
        datasets.DATASETS["stacked-mnist"].load(mnist_dir)


def test_mode_ids_number_the_thousand_triples():
    triples = torch.tensor([[0, 0, 0], [9, 9, 9], [1, 2, 3]])
    assert datasets.mode_ids(triples).tolist() == [0, 999, 123]


# ---------------------------------------------------------------- the figures

def logits_of(digits: torch.Tensor) -> torch.Tensor:
    """[N,3] digits -> [N,30] per-channel logits that predict them confidently."""
    return (torch.nn.functional.one_hot(digits, 10).double() * 20).reshape(len(digits), 30)


def test_mode_figures_on_hand_made_predictions():
    one = stacked.mode_figures(logits_of(torch.tensor([[4, 2, 7]] * 100)))
    assert one["stacked_modes"] == 1
    assert one["stacked_kl"] == pytest.approx(math.log(1000))
    every = torch.tensor([[m // 100, m // 10 % 10, m % 10] for m in range(1000)] * 3)
    uniform = stacked.mode_figures(logits_of(every))
    assert uniform["stacked_modes"] == 1000
    assert uniform["stacked_kl"] == pytest.approx(0.0, abs=1e-12)
    assert uniform["digit_confidence"] > 0.99


@pytest.mark.slow
def test_real_stacks_score_every_mode(stacks, cache_dir):
    real = stacks["reference_images"]
    m = stacked.stacked_metrics(stacks["train_images"][:10_000], real, CPU, cache_dir)
    true = stacked.histogram_figures(stacks["train_labels"][:10_000])
    print(f"\n10,000 real training stacks vs the reference stacks: {m}\nfrom their true labels: {true}")
    assert m["stacked_modes"] >= 995  # 10,000 uniform draws miss a given mode with probability e^-10
    assert m["stacked_kl"] < 0.1  # a finite sample of a uniform histogram: about 999 / (2 * 10,000)
    assert abs(m["stacked_kl"] - true["stacked_kl"]) < 0.02  # the classifier reads nearly every digit right
    assert m["fid_stacked"] < 2.0
    assert m["n_fake"] == 10_000 and m["n_real"] == 26_000


@pytest.mark.slow
def test_a_generator_collapsed_onto_one_stack_scores_one_mode(stacks, cache_dir):
    real = stacks["reference_images"]
    one = stacks["train_images"][:1].expand(2000, -1, -1, -1).contiguous()
    m = stacked.stacked_metrics(one, real, CPU, cache_dir)
    print(f"\none stack repeated: {m}")
    assert m["stacked_modes"] == 1
    assert m["stacked_kl"] == pytest.approx(math.log(1000))  # 6.91
    assert m["fid_stacked"] > 100


@pytest.mark.slow
def test_a_generator_of_ten_stacks_scores_ten_modes(stacks, cache_dir):
    labels = stacks["train_labels"]
    modes = datasets.mode_ids(labels)
    first_ten = [int(np.flatnonzero(modes.numpy() == m)[0]) for m in modes.unique()[:10]]
    ten = stacks["train_images"][first_ten].repeat(200, 1, 1, 1)
    m = stacked.stacked_metrics(ten, stacks["reference_images"], CPU, cache_dir)
    print(f"\nten stacks repeated: {m}")
    assert m["stacked_modes"] == 10
    assert m["stacked_kl"] == pytest.approx(math.log(100), abs=1e-6)


def test_the_stacked_extractor_refuses_grey_images():
    extractor = stacked.FeatureExtractorStackedMnist(stacked.STACKED_EXTRACTOR, [stacked.STACKED_FEATURES])
    with pytest.raises(ValueError, match=r"\[B,3,28,28\]"):
        extractor(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


# ---------------------------------------------------------------- three channels in every architecture

@pytest.mark.parametrize("arch", sorted(ARCH_SPECS))
def test_every_architecture_takes_three_channel_data(arch):
    loss = "began" if ARCH_SPECS[arch].d_output == "image" else "ns"
    variant = combine(arch, loss)
    G, D = variant.build((3, 28, 28))
    images = G(torch.randn(4, variant.hparams.z_dim))
    assert images.shape == (4, 3, 28, 28)
    assert D(images).shape == ((4, 3, 28, 28) if loss == "began" else (4, 1))


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def stacked_run(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("stacked-run")
    result = runner.invoke(app, [*RUN, "--seeds", "2", "--out", str(out), "--data-dir", str(mnist_dir), "-f", "json"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_a_stacked_run_records_its_dataset_and_figures(stacked_run):
    paths = records_in(stacked_run)
    assert len(paths) == 2
    record = load_record(paths[0])
    assert record["config"]["dataset"] == "stacked-mnist"
    assert record["config"]["final_samples"] == 500  # the tiny preset's stacked_samples
    assert record["data"]["sha256"] == datasets.STACKED_SHA256
    assert set(record["metrics"]) >= {"fid_stacked", "stacked_modes", "stacked_kl", "digit_confidence"}
    assert "fid_mnist" not in record["metrics"]
    assert record["metrics"]["n_fake"] == 500 and record["metrics"]["n_real"] == 26_000
    last = record["curve"][-1]
    assert last["step"] == 4 and last["fid_stacked"] > 0  # the curve's last point is scored on the stacks
    assert record["time_to_fid"]["threshold"] == 90.0  # the preset's stacked_fid_threshold
    assert record["systems"]["params_d"] == sum(p.numel() for p in get_variant("dcgan").build((3, 28, 28))[1].parameters())
    grid = Image.open(paths[0].with_suffix(".png"))
    assert grid.mode == "RGB"
    pixels = np.asarray(grid).astype(int)
    assert (pixels[..., 0] != pixels[..., 1]).any()  # colour: the channels are different digits


@pytest.mark.slow
def test_one_seed_on_stacked_mnist_is_one_record(stacked_run, mnist_dir, tmp_path):
    result = runner.invoke(app, [*RUN, "--out", str(tmp_path), "--data-dir", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    (again,) = records_in(tmp_path)
    first = next(p for p in records_in(stacked_run) if load_record(p)["seed"] == 0)
    assert deterministic_view(load_record(again)) == deterministic_view(load_record(first))


@pytest.mark.slow  # trains in a subprocess and kills it
def test_sigkill_then_resume_on_stacked_mnist_gives_the_uninterrupted_record(stacked_run, mnist_dir, tmp_path):
    args = [*RUN, "--steps", "12", "--checkpoint-every", "2"]
    uninterrupted = tmp_path / "uninterrupted"
    assert runner.invoke(app, [*args, "--out", str(uninterrupted), "--data-dir", str(mnist_dir)]).exit_code == 0
    (path,) = records_in(uninterrupted)
    sigkill_after_a_checkpoint(args, tmp_path / "killed", mnist_dir)
    assert_resume_gives(args, tmp_path / "killed", mnist_dir, deterministic_view(load_record(path)))


@pytest.mark.slow
def test_the_report_shows_the_stacked_figures(stacked_run):
    result = runner.invoke(app, ["report", str(stacked_run), "--format", "md,csv"])
    assert result.exit_code == 0, result.output
    (md,) = stacked_run.glob("reports/*/report.md")
    report = md.read_text()
    assert "- dataset: stacked-mnist" in report
    assert "modes of 1,000" in report and "FID (stacked)" in report
    assert "FID (MNIST)" not in report


@pytest.mark.slow
def test_pairwise_tests_compare_the_stacked_fid(stacked_run):
    from bench.report import load_records, pairwise_fid

    records, _ = load_records(stacked_run)
    others = [{**r, "variant": "other", "run_id": r["run_id"] + "-other",
               "metrics": {**r["metrics"], "fid_stacked": r["metrics"]["fid_stacked"] + 50}} for r in records]
    (pair,) = pairwise_fid(records + others).to_dict("records")
    fids = sorted(r["metrics"]["fid_stacked"] for r in records)
    assert pair["median_fid_a"] == pytest.approx(sum(fids) / 2)
    assert pair["median_fid_b"] == pytest.approx(sum(fids) / 2 + 50)


@pytest.mark.slow
def test_the_report_never_mixes_datasets(stacked_run, mnist_dir, tmp_path):
    import shutil

    shutil.copytree(stacked_run / "runs", tmp_path / "runs")
    mnist_args = ["run", "--variants", "dcgan", "--preset", "tiny", "--device", "cpu", "--out", str(tmp_path),
                  "--data-dir", str(mnist_dir)]
    assert runner.invoke(app, mnist_args).exit_code == 0
    result = runner.invoke(app, ["report", str(tmp_path), "--format", "md"])
    assert result.exit_code == 0, result.output
    reports = {md.parent.name: md.read_text() for md in tmp_path.glob("reports/*/*/report.md")}
    assert sorted(reports) == ["mnist-tiny-4-generator-steps", "stacked-mnist-tiny-4-generator-steps"]
    assert "FID (stacked)" not in reports["mnist-tiny-4-generator-steps"]
    assert "FID (MNIST)" not in reports["stacked-mnist-tiny-4-generator-steps"]


@pytest.mark.slow
def test_eval_scores_a_stacked_checkpoint_and_refuses_another_dataset(stacked_run, mnist_dir, tmp_path):
    checkpoint = next(stacked_run.glob("checkpoints/*/*.pt"))
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", str(checkpoint), "--samples", "300", "--device", "cpu", "--out", str(out),
                                 "--data-dir", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    metrics = load_record(out)["metrics"]
    assert metrics["n_fake"] == 300 and 1 <= metrics["stacked_modes"] <= 300
    result = runner.invoke(app, ["eval", str(checkpoint), "--dataset", "mnist", "--data-dir", str(mnist_dir)])
    assert result.exit_code == 2
    assert "trained on stacked-mnist, not mnist" in result.output


def test_an_unknown_dataset_is_one_line_and_writes_nothing(small_mnist_dir, tmp_path):
    result = runner.invoke(app, ["run", "--variants", "dcgan", "--dataset", "cifar", "--preset", "tiny",
                                 "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)])
    assert result.exit_code == 2
    assert "unknown dataset 'cifar'; choose one of mnist, stacked-mnist" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not records_in(tmp_path)


def test_get_dataset_names_the_choices():
    with pytest.raises(RegistryError, match="choose one of mnist, stacked-mnist"):
        datasets.get_dataset("fashion")
    with pytest.raises(RegistryError, match="did you mean mnist"):
        datasets.get_dataset("mnst")


def test_the_stacked_presets_budgets_in_d_steps():
    from bench.presets import PRESETS, generator_steps

    stacks = datasets.STACKED_TRAIN
    assert generator_steps(PRESETS["pacgan"], get_variant("dcgan"), stacks) == 100_000  # PacGAN: 50 epochs, batch 64
    assert generator_steps(PRESETS["one-epoch"], get_variant("pacdcgan2"), stacks) == 2_000
    assert generator_steps(PRESETS["one-epoch"], get_variant("wgan-gp"), stacks) == 400  # 5 D steps per G step
