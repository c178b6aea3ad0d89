"""`gan-bench score`, `stats` and `sample`: samples from anywhere scored with the final
evaluation's figures, on the small synthetic MNIST-shaped set (real MNIST: the slow tests
at the end)."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, list(map(str, args)))


def one_error_line(result) -> str:
    """The whole output of a refused command: one `error:` line, no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert lines[0].startswith("error:"), result.output
    return " ".join(lines)


def records(out):
    return sorted(out.glob("runs/*/*.json"))


def score_json(*args):
    result = cli("score", *args, "--device", "cpu", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("["):result.stdout.rindex("]") + 1])
    return {row["figure"]: row["value"] for row in rows}, rows


@pytest.fixture
def digits(small_mnist_dir):
    """300 of the small set's training images (uint8 [N,28,28]) and its data dir."""
    from bench.data import assets

    images = assets.load_mnist(small_mnist_dir)["train_images"][:300, 0].numpy()
    return images, small_mnist_dir


def test_an_array_in_each_accepted_shape_scores_the_same_and_writes_an_external_record(digits, tmp_path):
    images, data_dir = digits
    shapes = {"flat": images, "channels-first": images[:, None], "channels-last": images[..., None]}
    figures = {}
    for name, array in shapes.items():
        np.savez(tmp_path / f"{name}.npz", samples=array)
        figures[name], rows = score_json(tmp_path / f"{name}.npz", "--data-dir", data_dir, "--out", tmp_path / "out")
    assert figures["flat"] == figures["channels-first"] == figures["channels-last"]
    assert {row["n"] for row in rows if row["value"] is not None} == {300}
    written = [json.loads(p.read_text()) for p in records(tmp_path / "out")]
    assert len(written) == 3 and {r["kind"] for r in written} == {"external"}
    record = written[0]
    assert record["variant"].startswith("external:") and record["metrics"]["n_fake"] == 300
    assert record["input"]["kind"] == "array" and len(record["input"]["sha256"]) == 64
    assert "curve" in record and record["curve"] == [] and "budget" not in record
    assert record["metrics"]["fid_mnist"] == figures["flat"]["fid_mnist"]


def test_a_float_array_is_read_through_its_declared_range_only(digits, tmp_path):
    images, data_dir = digits
    np.save(tmp_path / "u8.npy", images)
    np.save(tmp_path / "unit.npy", images.astype(np.float32) / 255.0)
    np.save(tmp_path / "signed.npy", images.astype(np.float64) / 127.5 - 1.0)
    common = ("--data-dir", data_dir, "--no-record")
    u8, _ = score_json(tmp_path / "u8.npy", *common)
    assert score_json(tmp_path / "unit.npy", "--range", "0,1", *common)[0] == u8
    assert score_json(tmp_path / "signed.npy", "--range", "-1,1", *common)[0] == u8
    assert "--range" in one_error_line(cli("score", tmp_path / "unit.npy", "--data-dir", data_dir))
    assert "outside" in one_error_line(cli("score", tmp_path / "signed.npy", "--range", "0,1", "--data-dir", data_dir))


def png_bytes(pixels: np.ndarray, mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_folder_and_a_zip_of_pngs_score_as_the_array_of_their_pixels(digits, tmp_path):
    images, data_dir = digits
    folder = tmp_path / "pngs"
    folder.mkdir()
    with zipfile.ZipFile(tmp_path / "pngs.zip", "w") as archive:
        for i, image in enumerate(images):
            rgb = np.repeat(image[..., None], 3, axis=2) if i % 2 else image  # grey RGB is accepted
            data = png_bytes(rgb, "RGB" if i % 2 else "L")
            (folder / f"{i:04d}.png").write_bytes(data)
            archive.writestr(f"samples/{i:04d}.png", data)
    np.save(tmp_path / "same.npy", images)
    common = ("--data-dir", data_dir, "--no-record")
    array = score_json(tmp_path / "same.npy", *common)[0]
    assert score_json(folder, *common)[0] == array
    assert score_json(tmp_path / "pngs.zip", *common)[0] == array


def test_fewer_samples_than_a_figure_needs_leave_it_absent_with_its_reason(digits, tmp_path):
    images, data_dir = digits
    np.save(tmp_path / "fifty.npy", images[:50])
    np.save(tmp_path / "five.npy", images[:5])
    figures, rows = score_json(tmp_path / "fifty.npy", "--data-dir", data_dir, "--no-record")
    notes = {row["figure"]: row["note"] for row in rows}
    assert figures["fid_mnist"] is None and "128 feature dimensions" in notes["fid_mnist"] and "N = 50" in notes["fid_mnist"]
    assert figures["precision_mnist"] is not None and figures["is_mnist"] is not None
    figures, rows = score_json(tmp_path / "five.npy", "--data-dir", data_dir, "--no-record")
    assert figures["modes_covered"] is not None and figures["is_mnist"] is None and figures["kid_mnist"] is None


def bad_inputs(tmp_path, images):
    """(file or folder, extra options, words the error must hold) for every kind of bad input."""
    cases = []
    np.save(tmp_path / "nan.npy", np.full((10, 28, 28), np.nan, dtype=np.float32))
    cases.append(("nan.npy", ("--range", "0,1"), "NaN"))
    np.save(tmp_path / "shape.npy", images[:10, :20])
    cases.append(("shape.npy", (), "shape"))
    np.save(tmp_path / "dtype.npy", images[:10].astype(np.int64))
    cases.append(("dtype.npy", (), "dtype int64"))
    np.save(tmp_path / "one.npy", images[:1])
    cases.append(("one.npy", (), "at least 2"))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    cases.append(("objects.npy", (), "object array"))
    np.save(tmp_path / "rgb.npy", np.zeros((4, 3, 28, 28), np.uint8))
    cases.append(("rgb.npy", (), "stacked-mnist"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    cases.append(("empty", (), "no PNG or JPEG"))
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.png").write_bytes(png_bytes(images[0]))
    (tmp_path / "mixed" / "b.png").write_bytes(png_bytes(np.zeros((32, 32), np.uint8)))
    cases.append(("mixed", (), "32x32"))
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "a.png").write_bytes(png_bytes(images[0]))
    (tmp_path / "torn" / "b.png").write_bytes(png_bytes(images[1])[:60])
    cases.append(("torn", (), "b.png is not a readable image"))
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", png_bytes(images[0]))
        archive.writestr("huge.png", b"\0" * (3 << 20))
    cases.append(("bomb.zip", (), "past the cap"))
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    cases.append(("foreign.safetensors", (), "not a gan-bench generator"))
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04\x95" + b"\0" * 64)
    cases.append(("pickle.safetensors", (), "not a readable safetensors file"))
    cases.append(("missing.npz", (), "no such file"))
    return cases


def test_every_bad_input_is_one_error_line_and_writes_nothing(digits, tmp_path):
    images, data_dir = digits
    out = tmp_path / "out"
    for name, extra, words in bad_inputs(tmp_path, images):
        message = one_error_line(cli("score", tmp_path / name, *extra, "--data-dir", data_dir, "--out", out,
                                     "--device", "cpu"))
        assert words in message, (name, message)
    assert not out.exists()


def tiny_generator(small_mnist, out):
    with small_mnist.pinned() as data_dir:
        result = cli("run", "--variants", "dcgan", "--preset", "tiny", "--device", "cpu", "--out", out,
                     "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    (record_path,) = records(out)
    return json.loads(record_path.read_text()), record_path


def test_a_runs_generator_file_gives_its_records_figures_exactly(small_mnist, tmp_path):
    record, path = tiny_generator(small_mnist, tmp_path / "run")
    entry = record["generators"]["last"]
    generator = path.parent / entry["file"]
    from bench.files import file_sha256

    assert file_sha256(generator) == entry["sha256"] and entry["step"] == record["budget"]["g_steps"]
    with small_mnist.pinned() as data_dir:
        figures, rows = score_json(generator, "--data-dir", data_dir, "--out", tmp_path / "scores")
        for key in ("fid_mnist", "kid_mnist", "precision_mnist", "recall_mnist", "is_mnist", "class_kl"):
            assert figures[key] == record["metrics"][key], key
        assert {row["n"] for row in rows if row["value"] is not None} == {record["metrics"]["n_fake"]}
        result = cli("sample", generator, "--n", 9, "--grid", tmp_path / "grid.png", "--out", tmp_path / "s.npz",
                     "--device", "cpu")
        assert result.exit_code == 0, result.output
        assert Image.open(tmp_path / "grid.png").size[0] > 28 * 3
        samples = np.load(tmp_path / "s.npz", allow_pickle=False)["samples"]
        assert samples.shape == (9, 1, 28, 28) and samples.dtype == np.uint8
        # The first samples of the file are the first of the final evaluation's latents.
        first = score_json(tmp_path / "s.npz", "--data-dir", data_dir, "--no-record")[0]
        assert first["modes_covered"] is not None
    (scored,) = records(tmp_path / "scores")
    assert json.loads(scored.read_text())["input"]["run_id"] == record["run_id"]


def test_a_damaged_generator_file_is_refused(small_mnist, tmp_path):
    record, path = tiny_generator(small_mnist, tmp_path / "run")
    generator = path.parent / record["generators"]["last"]["file"]
    data = bytearray(generator.read_bytes())
    data[-3] ^= 0xFF  # a weight's byte: the tensors no longer match the header's digest
    generator.write_bytes(bytes(data))
    assert "do not match the sha256" in one_error_line(cli("score", generator, "--device", "cpu", "--no-record"))


def test_a_sampler_plugin_is_scored_and_its_mistakes_are_one_line(digits, tmp_path):
    images, data_dir = digits
    np.save(tmp_path / "pool.npy", images)
    plugin = tmp_path / "my_gan.py"
    plugin.write_text("import numpy as np\n"
                      f"POOL = np.load({str(tmp_path / 'pool.npy')!r})\n"
                      "def sample(n, seed):\n"
                      "    return POOL[np.random.default_rng(seed).integers(0, len(POOL), n)]\n")
    figures, rows = score_json("--plugin", plugin, "--samples", 200, "--data-dir", data_dir, "--no-record")
    assert figures["fid_mnist"] is not None and {r["n"] for r in rows if r["value"] is not None} == {200}
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import numpy as np\ndef sample(n, seed):\n    return np.zeros((n + 1, 28, 28), np.uint8)\n")
    assert "returned 201 images" in one_error_line(cli("score", "--plugin", wrong, "--samples", 200, "--data-dir",
                                                       data_dir))
    none = tmp_path / "none.py"
    none.write_text("x = 1\n")
    assert "defines no function sample" in one_error_line(cli("score", "--plugin", none, "--data-dir", data_dir))


def test_statistics_taken_away_give_the_fid_of_the_images_they_describe(digits, tmp_path):
    images, data_dir = digits
    stats = tmp_path / "test-stats.npz"
    result = cli("stats", "mnist:test", "--out", stats, "--data-dir", data_dir, "--device", "cpu")
    assert result.exit_code == 0, result.output
    saved = np.load(stats, allow_pickle=False)
    assert saved["mu"].dtype == np.float64 and saved["sigma"].shape == (128, 128)
    from bench.eval import CLASSIFIER_SHA256

    assert str(saved["network_sha256"]) == CLASSIFIER_SHA256 and int(saved["n"]) == 1000
    np.save(tmp_path / "x.npy", images)
    plain = score_json(tmp_path / "x.npy", "--data-dir", data_dir, "--no-record")[0]
    against = score_json(tmp_path / "x.npy", "--reference", stats, "--data-dir", data_dir, "--no-record")[0]
    assert against["fid_mnist"] == pytest.approx(plain["fid_mnist"], rel=1e-9)
    # pytorch-fid reads the same keys.
    import warnings

    from pytorch_fid.fid_score import calculate_frechet_distance

    with warnings.catch_warnings():  # scipy's notes on sqrtm's arguments: not the figure's concern
        warnings.simplefilter("ignore")
        assert calculate_frechet_distance(saved["mu"], saved["sigma"], saved["mu"], saved["sigma"]) == pytest.approx(
            0, abs=1e-6)


def test_a_reference_file_of_another_network_or_dataset_or_form_is_refused(digits, tmp_path):
    images, data_dir = digits
    stats = tmp_path / "stats.npz"
    assert cli("stats", "mnist:test", "--out", stats, "--data-dir", data_dir, "--device", "cpu").exit_code == 0
    np.save(tmp_path / "x.npy", images)
    saved = dict(np.load(stats, allow_pickle=False))
    forged = {"network": {**saved, "network_sha256": np.str_("0" * 64)},
              "dataset": {**saved, "dataset": np.str_("stacked-mnist")},
              "pytorch-fid": {"mu": saved["mu"], "sigma": saved["sigma"]},
              "shape": {**saved, "sigma": saved["sigma"][:5]}}
    words = {"network": "another feature network", "dataset": "stacked-mnist statistics",
             "pytorch-fid": "names no feature network", "shape": "square matrix"}
    for name, arrays in forged.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        message = one_error_line(cli("score", tmp_path / "x.npy", "--reference", tmp_path / f"{name}.npz",
                                     "--data-dir", data_dir, "--out", tmp_path / "out"))
        assert words[name] in message, (name, message)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- real MNIST

@pytest.mark.slow
def test_the_committed_mnist_test_statistics_are_the_test_sets(mnist_dir, mnist):
    """results/reference/: FID against the file equals FID against the images it describes."""
    from pathlib import Path

    from bench.eval.quality import mnist_metrics
    from bench.scoring.reference import check_reference, fid_against, read_reference, reference_of

    committed = read_reference(Path(__file__).parents[1] / "results" / "reference" / "mnist-test.npz")
    check_reference(committed, "mnist")
    fresh = reference_of(mnist["test_images"], "mnist", torch.device("cpu"))
    assert committed.images_digest == fresh.images_digest and committed.n == 10_000
    np.testing.assert_allclose(committed.sigma, fresh.sigma, rtol=1e-9, atol=1e-12)
    from bench.eval.classifier import FEATURES
    from bench.eval.quality import mnist_features

    fake = mnist["train_images"][:2000]
    direct = mnist_metrics(fake, mnist["test_images"], torch.device("cpu"), None)["fid_mnist"]
    assert fid_against(mnist_features(fake, torch.device("cpu"))[FEATURES], committed) == pytest.approx(direct,
                                                                                                         rel=1e-6)


def test_the_tutorial_gan_example_writes_samples_that_score_scores(small_mnist_dir, tmp_path):
    """examples/tutorial_gan.py, a loop with nothing of gan-bench in it, then its two commands."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).parents[1] / "examples" / "tutorial_gan.py"
    done = subprocess.run([sys.executable, str(example), "--steps", "3", "--samples", "300", "--out",
                           str(tmp_path / "samples.npz"), "--data-dir", str(small_mnist_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    saved = np.load(tmp_path / "samples.npz", allow_pickle=False)["samples"]
    assert saved.shape == (300, 1, 28, 28) and saved.dtype == np.float32 and saved.min() >= -1 and saved.max() <= 1
    figures, _ = score_json(tmp_path / "samples.npz", "--range", "-1,1", "--name", "tutorial-gan", "--data-dir",
                            small_mnist_dir, "--out", tmp_path / "results")
    assert figures["fid_mnist"] > 0
    (path,) = records(tmp_path / "results")
    assert json.loads(path.read_text())["variant"] == "external:tutorial-gan"


@pytest.mark.slow
def test_stacked_mnist_samples_are_scored_with_the_stacked_figures(mnist_dir, tmp_path):
    """Stacks of real test digits, channels last as an image library writes them."""
    from bench.data.datasets import get_dataset

    stacks = get_dataset("stacked-mnist").load(mnist_dir)["reference_images"][:600].numpy()
    np.save(tmp_path / "stacks.npy", np.moveaxis(stacks, 1, -1))
    figures, rows = score_json(tmp_path / "stacks.npy", "--dataset", "stacked-mnist", "--no-record")
    assert figures["fid_stacked"] > 0 and figures["stacked_modes"] > 300
    assert {row["n"] for row in rows if row["value"] is not None} == {600}
    message = one_error_line(cli("score", tmp_path / "stacks.npy", "--no-record"))
    assert "3 channel" in message and "stacked-mnist" in message


def test_an_external_score_stands_beside_the_trained_variants_in_the_report(small_mnist, tmp_path):
    """Same dataset, machine and N: one table, the score labelled external:NAME, left out of the
    training tables, with the command that made it; another N makes a set of its own."""
    import bench

    out = tmp_path / "results"
    record, _ = tiny_generator(small_mnist, out)
    n = record["metrics"]["n_fake"]
    with small_mnist.pinned() as data_dir:
        from bench.data import assets

        np.save(tmp_path / "real.npy", assets.load_mnist(data_dir)["train_images"][:n].numpy())
        score_json(tmp_path / "real.npy", "--name", "real-digits", "--data-dir", data_dir, "--out", out)
        score_json(tmp_path / "real.npy", "--samples", n - 100, "--name", "fewer", "--data-dir", data_dir,
                   "--out", out)
    result = cli("report", out, "--out", tmp_path / "report", "--format", "md")
    assert result.exit_code == 0, result.output
    pages = {p.parent.name: p.read_text() for p in (tmp_path / "report").rglob("report.md")}
    assert len(pages) == 2, pages.keys()
    beside = next(text for text in pages.values() if "| dcgan |" in text)
    quality = beside.split("## Quality\n")[1].split("\n## ")[0]
    systems = beside.split("## Systems\n")[1].split("\n## ")[0]
    assert "| external:real-digits | 1 ok |" in quality and "external:real-digits" not in systems
    assert f"`gan-bench score real.npy --samples {n} --name real-digits`" in beside
    assert "preset: tiny\n" in beside and "external:fewer" not in beside
    frame = bench.load_runs(out)
    assert {"dcgan", "external:real-digits", "external:fewer"} <= set(frame["variant"])
