"""The fast path against the tutorial loop: step timing side by side."""
