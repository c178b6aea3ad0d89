"""Layer 2: the training protocol, its budget rules, checkpoints and one run end to end."""
