"""Samples from outside a run, read as data: arrays, image folders and archives, gan-bench
generator files, and a user's `sample(n, seed)` plug-in, each turned into the uint8
[N, C, 28, 28] tensor the final evaluation scores.

Nothing is guessed. A float array needs its range said (`--range 0,1` or `-1,1`), an image
of another size is refused with the size found (never resized), colour is accepted only
where it is grey (equal channels) or the dataset has three channels, and arrays are read
with `allow_pickle=False`, so an object array is refused instead of unpickled.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError
from bench.files import file_sha256

RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0)}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAY_KEYS = ("samples", "images", "arr_0")  # tried in order when an .npz holds several arrays
SIDE = 28
# An archive is refused before anything is decoded when its members would expand past these
# (a 28x28 PNG is about 1 KB): a crafted archive cannot fill memory.
MAX_MEMBER_BYTES = 1 << 20
MAX_ARCHIVE_BYTES = 1 << 30


@dataclass
class Samples:
    """What is scored, and where it came from (the record's `input` section)."""

    images: torch.Tensor  # uint8 [N, C, 28, 28] on the CPU
    source: dict = field(default_factory=dict)


def parse_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    key = text.replace(" ", "")
    if key not in RANGES:
        raise BenchError(f"unknown --range {text!r}; use {' or '.join(RANGES)}")
    return RANGES[key]


# ---------------------------------------------------------------- arrays

def as_images(array: np.ndarray, channels: int, value_range: tuple[float, float] | None, what: str) -> torch.Tensor:
    """An array of images -> uint8 [N, C, 28, 28]: shapes [N,28,28], [N,C,28,28] or [N,28,28,C]."""
    if array.dtype == object:
        raise BenchError(f"{what} is an object array; give numbers (uint8, or float with --range)")
    if array.ndim == 3 and channels == 1:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[1] not in (1, 3) and array.shape[-1] in (1, 3):
        array = np.moveaxis(array, -1, 1)
    if array.ndim != 4 or tuple(array.shape[2:]) != (SIDE, SIDE) or array.shape[1] not in (1, 3):
        wanted = "[N,28,28], [N,1,28,28] or [N,28,28,1]" if channels == 1 else "[N,3,28,28] or [N,28,28,3]"
        raise BenchError(f"{what} has shape {list(array.shape)}; images must be {wanted}")
    if array.shape[1] != channels:
        hint = "; Stacked MNIST's samples have 3: pass --dataset stacked-mnist" if channels == 1 else ""
        raise BenchError(f"{what} has {array.shape[1]} channel(s), this dataset's images {channels}{hint}")
    if len(array) < 2:
        raise BenchError(f"{what} holds {len(array)} image(s); scoring needs at least 2")
    # Standard strides, whatever the array's (numpy keeps odd strides on size-1 axes, and torch
    # picks its convolution kernels, and so the features' last bits, by strides).
    return torch.from_numpy(np.ascontiguousarray(to_uint8(array, value_range, what))).clone(
        memory_format=torch.contiguous_format)


def to_uint8(array: np.ndarray, value_range: tuple[float, float] | None, what: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind != "f":
        raise BenchError(f"{what} has dtype {array.dtype}; give uint8 images in [0, 255], or float images with "
                         "their range (--range 0,1 or --range -1,1)")
    if value_range is None:
        raise BenchError(f"{what} is a float array; say its range with --range 0,1 or --range -1,1 "
                         "(a range is never guessed)")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise BenchError(f"{what} holds NaN or infinite values ({int((~np.isfinite(values)).sum())} of them)")
    low, high = value_range
    if values.min() < low or values.max() > high:
        raise BenchError(f"{what} has values in [{values.min():.4g}, {values.max():.4g}], outside the "
                         f"--range {low:g},{high:g} given")
    # The same rounding as a gan-bench generator's output (bench.data.loader.to_uint8).
    return np.clip(np.round((values - low) / (high - low) * 255.0), 0, 255).astype(np.uint8)


def read_array(path: Path, channels: int, value_range, key: str | None = None) -> torch.Tensor:
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise BenchError(f"{path} holds an object array (pickled Python objects); gan-bench reads numbers "
                             "only") from None
        raise BenchError(f"{path} is not a readable .npy/.npz file ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise BenchError(f"{path} is not a readable .npy/.npz file ({type(error).__name__})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            chosen = key if key is not None else names[0] if len(names) == 1 else next(
                (k for k in ARRAY_KEYS if k in names), None)
            if chosen not in names:
                raise BenchError(f"{path} holds the arrays {', '.join(names) or 'none'}; name one with --key")
            try:
                array = loaded[chosen]
            except ValueError:
                raise BenchError(f"{path}: array {chosen!r} is an object array (pickled Python objects); "
                                 "gan-bench reads numbers only") from None
    else:
        array = loaded
    return as_images(array, channels, value_range, f"{path.name}")


# ---------------------------------------------------------------- images

def decode_image(data: bytes, name: str, channels: int) -> np.ndarray:
    """One PNG/JPEG -> uint8 [C, 28, 28]; its size is checked before its pixels are decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.size != (SIDE, SIDE):
            raise BenchError(f"{name} is {image.size[0]}x{image.size[1]}; images must be 28x28 (they are never "
                             "resized: resizing would change the figures)")
        image.load()
    except BenchError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BenchError(f"{name} is not a readable image ({type(error).__name__}: {str(error)[:60]})") from None
    if image.mode in ("L", "1"):
        pixels = np.asarray(image.convert("L"))[None]
    elif image.mode in ("RGB", "RGBA"):
        pixels = np.moveaxis(np.asarray(image.convert("RGB")), -1, 0)
    else:
        raise BenchError(f"{name} has pixel mode {image.mode}; give greyscale or RGB images")
    if channels == 1 and pixels.shape[0] == 3:
        if not ((pixels[0] == pixels[1]).all() and (pixels[0] == pixels[2]).all()):
            raise BenchError(f"{name} is a colour image; MNIST samples must be grey (equal R, G and B)")
        pixels = pixels[:1]
    if pixels.shape[0] != channels:
        raise BenchError(f"{name} is greyscale; Stacked MNIST samples are RGB, a digit per channel")
    return pixels


def stack(images: list[np.ndarray], names: list[str], what: str) -> torch.Tensor:
    if not images:
        raise BenchError(f"{what} holds no PNG or JPEG images")
    if len(images) < 2:
        raise BenchError(f"{what} holds 1 image; scoring needs at least 2")
    return torch.from_numpy(np.stack(images))


def is_image_name(name: str) -> bool:
    parts = Path(name).parts
    return (Path(name).suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in parts)
            and "__MACOSX" not in parts)


def read_folder(folder: Path, channels: int) -> tuple[torch.Tensor, str]:
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(str(p.relative_to(folder))))
    digest = hashlib.sha256()
    images = []
    for path in paths:
        data = path.read_bytes()
        digest.update(f"{path.relative_to(folder).as_posix()}|{hashlib.sha256(data).hexdigest()}\n".encode())
        images.append(decode_image(data, str(path.relative_to(folder)), channels))
    return stack(images, [str(p) for p in paths], f"folder {folder}"), digest.hexdigest()


def read_archive(path: Path, channels: int) -> torch.Tensor:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise BenchError(f"{path} is not a readable zip archive ({type(error).__name__})") from None
    with archive:
        members = sorted((m for m in archive.infolist() if not m.is_dir() and is_image_name(m.filename)),
                         key=lambda m: m.filename)
        total = sum(m.file_size for m in members)
        big = next((m for m in members if m.file_size > MAX_MEMBER_BYTES), None)
        if big is not None or total > MAX_ARCHIVE_BYTES:
            size = f"{big.filename} expands to {big.file_size:,} bytes" if big else f"it expands to {total:,} bytes"
            raise BenchError(f"refused archive {path}: {size}, past the cap of {MAX_MEMBER_BYTES:,} bytes an image "
                             f"and {MAX_ARCHIVE_BYTES:,} in all")
        images = []
        for member in members:
            try:
                with archive.open(member) as handle:
                    data = handle.read(MAX_MEMBER_BYTES + 1)  # the header's size is not trusted
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise BenchError(f"{path}: member {member.filename} is damaged ({type(error).__name__})") from None
            if len(data) > MAX_MEMBER_BYTES:
                raise BenchError(f"refused archive {path}: {member.filename} expands past {MAX_MEMBER_BYTES:,} bytes")
            images.append(decode_image(data, member.filename, channels))
    return stack(images, [m.filename for m in members], f"archive {path}")


# ---------------------------------------------------------------- what the command reads

# A dataset's own images, by name: the real data every figure is calibrated on.
DATASET_IMAGES = {"mnist:test": ("mnist", "test_images"), "mnist:train": ("mnist", "train_images")}


def dataset_samples(spec: str, data_dir=None) -> Samples:
    """`mnist:train` or `mnist:test`: the fetched MNIST images, checked against their pins."""
    from bench.data import assets
    from bench.eval.features import images_digest

    name, key = DATASET_IMAGES[spec]
    images = assets.load_mnist(data_dir)[key]
    return Samples(images, {"kind": "dataset", "name": spec, "bytes": images.numel(),
                            "sha256": images_digest(images)})

def read_samples(path: Path, channels: int, value_range=None, key: str | None = None) -> Samples:
    """Images from an array file, a folder or a .zip of PNG/JPEG images, with the input's
    name, kind, size and sha256 for the record."""
    path = Path(path)
    if path.is_dir():
        images, digest = read_folder(path, channels)
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return Samples(images, {"kind": "folder", "name": path.name, "bytes": size, "sha256": digest})
    if not path.is_file():
        raise BenchError(f"no such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        images, kind = read_array(path, channels, value_range, key), "array"
    elif suffix == ".zip":
        images, kind = read_archive(path, channels), "archive"
    else:
        raise BenchError(f"{path}: unknown input type {suffix or '(no suffix)'}; give a .npz/.npy array, a folder "
                         "or .zip of PNG/JPEG images, a gan-bench generator file (.safetensors) or --plugin FILE.py")
    if value_range is not None and kind != "array":
        raise BenchError("--range applies to float arrays only; images are read as 8-bit pixels")
    source = {"kind": kind, "name": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path)}
    if value_range is not None:
        source["range"] = list(value_range)
    return Samples(images, source)


def plugin_samples(plugin: Path, n: int, seed: int, channels: int, value_range=None) -> Samples:
    """`sample(n, seed)` of a user's Python file: code the user chose to run, like --plugin elsewhere."""
    import importlib.util

    plugin = Path(plugin)
    if not plugin.is_file() or plugin.suffix != ".py":
        raise BenchError(f"--plugin must name a .py file that defines sample(n, seed), got {plugin}")
    spec = importlib.util.spec_from_file_location(f"gan_bench_sampler_{plugin.stem}", plugin)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: any failure is theirs to read, in one line
        raise BenchError(f"plug-in {plugin} failed to import ({type(error).__name__}: {str(error)[:80]})") from None
    sample = getattr(module, "sample", None)
    if not callable(sample):
        raise BenchError(f"plug-in {plugin} defines no function sample(n, seed)")
    try:
        out = sample(n, seed)
    except Exception as error:
        raise BenchError(f"plug-in {plugin}: sample({n}, {seed}) failed ({type(error).__name__}: "
                         f"{str(error)[:80]})") from None
    array = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    what = f"what {plugin.name}'s sample() returned"
    images = as_images(array, channels, value_range, what)
    if len(images) != n:
        raise BenchError(f"plug-in {plugin}: sample({n}, {seed}) returned {len(images)} images, not {n}")
    source = {"kind": "plugin", "name": plugin.name, "bytes": plugin.stat().st_size, "sha256": file_sha256(plugin),
              "seed": seed}
    if value_range is not None:
        source["range"] = list(value_range)
    return Samples(images, source)
