"""gan-bench: a benchmark and evaluation harness for GAN variants on MNIST."""

__version__ = "0.1.0"
