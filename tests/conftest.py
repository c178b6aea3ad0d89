import pytest
import torch

from bench.data import assets


@pytest.fixture(scope="session")
def mnist_dir():
    """Real MNIST, fetched once per machine (CI: once per run) into the default data dir."""
    data_dir = assets.default_data_dir()
    assets.fetch_mnist(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    return assets.load_mnist(mnist_dir)


@pytest.fixture
def tiny_images():
    """A small synthetic uint8 set, shaped like MNIST, for fast unit tests."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (256, 1, 28, 28), generator=generator, dtype=torch.uint8)
