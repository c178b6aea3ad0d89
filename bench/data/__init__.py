"""Layer 1: the assets (MNIST files) and the datasets and loader built on them."""
