"""Sample-quality metrics (docs/figures.md): gan-bench's fixed MNIST classifier,
its figures (fid_mnist & co.) and Inception FID, all computed by torch-fidelity.

Importing this package registers the classifier with torch-fidelity as the feature
extractor `gan-bench-mnist-classifier`.
"""

from bench.eval.classifier import (
    CLASSIFIER_PATH, CLASSIFIER_SHA256, MnistClassifier, load_classifier, classifier_bytes, train_classifier,
)
from bench.eval.inception import inception_weights
from bench.eval.quality import (
    MNIST_KEYS, MODE_SHARE, fid_mnist, inception_metrics, mnist_metrics, reference_cache_name, sample_uint8,
)

__all__ = [
    "CLASSIFIER_PATH", "CLASSIFIER_SHA256", "MNIST_KEYS", "MODE_SHARE", "MnistClassifier",
    "fid_mnist", "inception_metrics", "inception_weights", "load_classifier", "mnist_metrics",
    "reference_cache_name", "sample_uint8", "classifier_bytes", "train_classifier",
]
