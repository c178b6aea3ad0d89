"""The MNIST classifier's features of 2,000 test images on the CPU and on a GPU: the
largest absolute difference, printed (and written as JSON to the path given, if any).

Both sides run in gan-bench's full-float32 extraction, so the difference is what float32
kernels on two devices leave, not TF32 rounding.

    python tools/compare_features.py [OUT.json]
"""

import json
import sys

import torch

from bench.data import assets
from bench.eval.quality import mnist_features

N = 2000


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA GPU here; this check compares CPU and GPU features")
    images = assets.load_mnist()["test_images"][:N]
    cpu = mnist_features(images, torch.device("cpu"))
    gpu = mnist_features(images, torch.device("cuda"))
    result = {"images": N, "gpu": torch.cuda.get_device_name(),
              **{f"max_abs_diff_{k}": float((cpu[k].double() - gpu[k].double()).abs().max()) for k in cpu},
              **{f"max_abs_{k}": float(cpu[k].abs().max()) for k in cpu}}
    print(json.dumps(result, indent=1))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as out:
            json.dump(result, out, indent=1)


if __name__ == "__main__":
    main()
