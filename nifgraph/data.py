"""Data sets by name, and any CSV.

``load_dataset(name)`` returns a :class:`Dataset`: a stratified, seeded train/test split with
features standardised by statistics of the training split only.

Image sets, downloaded on first use and cached under the data home: ``mnist``,
``fashion-mnist`` (28×28) and ``cifar10`` (3×32×32, the binary version), the first
:data:`IMAGE_ROWS` rows of their training files. ``digits`` is an 8×8 image set too
(:attr:`Dataset.image_shape`), for ``--arch cnn|resnet``.

Bundled with scikit-learn: ``iris``, ``wine``, ``breast-cancer``, ``digits``. ``banknote``
(UCI "Banknote authentication", CC BY 4.0) is downloaded from its UCI home on first use and
cached under :func:`nifgraph.config.data_home` (``NIFGRAPH_DATA_HOME``); setting
``NIFGRAPH_BANKNOTE_CSV`` to a local copy (with the header row
``variance,skewness,curtosis,entropy,class``) skips the download — the tests do that.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import data_home
from .errors import ValidationError

__all__ = ["Dataset", "load_dataset", "DATASETS", "BANKNOTE_URL"]

DATASETS = ("iris", "wine", "breast-cancer", "digits", "banknote", "mnist", "fashion-mnist", "cifar10")
#: One sample's image shape (channels, height, width) of the image data sets.
IMAGE_SHAPES: dict[str, tuple[int, ...]] = {
    "digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32),
}
#: Rows of the downloaded image sets that are used (the first ones of the official training
#: files): NIF estimates one MI per edge on every sample, and 10,000 samples is already far more
#: than an estimate needs. ``NIFGRAPH_IMAGE_ROWS`` changes it.
IMAGE_ROWS = 10_000
#: Where the image sets are downloaded from (the files are cached under the data home).
IMAGE_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
}
_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
_CLASSES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}

BANKNOTE_URL = "https://archive.ics.uci.edu/static/public/267/banknote+authentication.zip"
BANKNOTE_COLUMNS = ("variance", "skewness", "curtosis", "entropy", "class")


@dataclass(frozen=True)
class Dataset:
    """A split classification data set, as the model sees it.

    ``x_train`` (n_train, n_features) float32, standardised with the training split's mean
    and std (``mean``, ``scale``) when ``standardized``, raw otherwise (``mean`` 0, ``scale``
    1); ``y_*`` int64 class indices 0..n_classes-1.
    """

    name: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    mean: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    seed: int = 0
    test_size: float = 0.3
    source: str = ""
    standardized: bool = True

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """One sample as an image (channels, height, width) for the image data sets
        (``digits``: 1×8×8), else ``None``."""
        shape = IMAGE_SHAPES.get(self.name)
        return shape if shape is not None and int(np.prod(shape)) == self.n_features else None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        if which == "train":
            return self.x_train, self.y_train
        if which == "test":
            return self.x_test, self.y_test
        if which == "all":
            return np.vstack([self.x_train, self.x_test]), np.concatenate([self.y_train, self.y_test])
        raise ValidationError(f"Unknown split {which!r}; use one of: train, test, all.")

    def describe(self) -> dict:
        return {
            "dataset": self.name,
            "source": self.source,
            "n_train": int(len(self.y_train)),
            "n_test": int(len(self.y_test)),
            "seed": self.seed,
            "test_size": self.test_size,
            "feature_names": list(self.feature_names),
            "class_names": list(self.class_names),
            "standardized": self.standardized,
            "standardize_mean": self.mean.tolist(),
            "standardize_scale": self.scale.tolist(),
        }


def _sklearn(name: str) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...]]:
    from sklearn import datasets as skd

    loader = {
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast-cancer": skd.load_breast_cancer,
        "digits": skd.load_digits,
    }[name]
    bunch = loader()
    names = [str(n) for n in getattr(bunch, "feature_names", [f"x{i}" for i in range(bunch.data.shape[1])])]
    x = pd.DataFrame(bunch.data, columns=names)
    classes = tuple(str(c) for c in bunch.target_names)
    return x, np.asarray(bunch.target, dtype=np.int64), classes


def _banknote_path(home: Path) -> Path:
    local = os.environ.get("NIFGRAPH_BANKNOTE_CSV")
    if local:
        p = Path(local)
        if not p.is_file():
            raise ValidationError(
                f"NIFGRAPH_BANKNOTE_CSV points to {p}, which is not a file; fix the path or unset it to download."
            )
        return p
    cached = home / "banknote.csv"
    if cached.is_file():
        return cached
    home.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(BANKNOTE_URL, timeout=30) as resp:  # noqa: S310 - fixed https URL
            payload = resp.read()
    except OSError as exc:
        raise ValidationError(
            f"Could not download banknote from {BANKNOTE_URL} ({exc}); put a copy at {cached} "
            "or set NIFGRAPH_BANKNOTE_CSV to a local file."
        ) from exc
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".txt"))
        raw = zf.read(member).decode()
    frame = pd.read_csv(io.StringIO(raw), header=None, names=list(BANKNOTE_COLUMNS))
    tmp = cached.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(cached)  # atomic: never a half-written cache
    return cached


def _download(url: str, dest: Path) -> Path:
    """``url`` cached at ``dest`` (downloaded once, written atomically)."""
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - fixed URLs of the data sets
            payload = resp.read()
    except OSError as exc:
        raise ValidationError(
            f"Could not download {url} ({exc}); put a copy at {dest} or check the connection."
        ) from exc
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    tmp.write_bytes(payload)
    tmp.replace(dest)
    return dest


def _rows_cap() -> int:
    raw = os.environ.get("NIFGRAPH_IMAGE_ROWS", "")
    if not raw:
        return IMAGE_ROWS
    if not raw.isdigit() or int(raw) < 20:
        raise ValidationError(f"NIFGRAPH_IMAGE_ROWS={raw!r} must be a whole number of rows ≥ 20.")
    return int(raw)


def _read_idx(path: Path, limit: int) -> np.ndarray:
    """The first ``limit`` records of a gzipped IDX file (MNIST's format) as uint8."""
    import gzip

    with gzip.open(path, "rb") as fh:
        head = fh.read(4)
        if len(head) != 4 or head[:2] != b"\x00\x00" or head[2] != 0x08:
            raise ValidationError(f"{path} is not an IDX file of bytes; delete it to download it again.")
        dims = [int.from_bytes(fh.read(4), "big") for _ in range(head[3])]
        n = min(dims[0], limit)
        per = int(np.prod(dims[1:])) if len(dims) > 1 else 1
        data = np.frombuffer(fh.read(n * per), dtype=np.uint8)
    if data.size != n * per:
        raise ValidationError(f"{path} is truncated; delete it to download it again.")
    return data.reshape(n, per)


def _images(key: str, home: Path) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...], str]:
    """MNIST / Fashion-MNIST / CIFAR-10: the first rows of the official training files,
    downloaded once and cached under ``home/key``; pixels scaled to [0, 1]."""
    import tarfile

    limit = _rows_cap()
    folder = home / key
    if key == "cifar10":
        archive = _download(IMAGE_URLS[key], folder / "cifar-10-binary.tar.gz")
        rows = []
        with tarfile.open(archive, "r:gz") as tf:
            for i in range(1, 6):
                member = tf.extractfile(f"cifar-10-batches-bin/data_batch_{i}.bin")
                if member is None:
                    raise ValidationError(f"{archive} lacks data_batch_{i}.bin; delete it to download it again.")
                raw = np.frombuffer(member.read(), dtype=np.uint8).reshape(-1, 3073)
                rows.append(raw)
                if sum(len(r) for r in rows) >= limit:
                    break
        raw = np.concatenate(rows)[:limit]
        y, pixels = raw[:, 0].astype(np.int64), raw[:, 1:]
        names = [f"{c}_{r}_{k}" for c in ("r", "g", "b") for r in range(32) for k in range(32)]
        source = IMAGE_URLS[key]
    else:
        images = _read_idx(_download(IMAGE_URLS[key] + _IDX_FILES[0], folder / _IDX_FILES[0]), limit)
        y = _read_idx(_download(IMAGE_URLS[key] + _IDX_FILES[1], folder / _IDX_FILES[1]), limit)[:, 0].astype(np.int64)
        pixels = images
        names = [f"pixel_{r}_{k}" for r in range(28) for k in range(28)]
        source = IMAGE_URLS[key] + _IDX_FILES[0]
    if pixels.shape[1] != len(names) or len(y) != len(pixels):
        raise ValidationError(f"The cached {key} files under {folder} do not fit the format; delete them to download again.")
    frame = pd.DataFrame(pixels.astype(np.float64) / 255.0, columns=names)
    present = np.unique(y)
    classes = tuple(_CLASSES[key][int(c)] for c in present)
    return frame, np.searchsorted(present, y).astype(np.int64), classes, f"{source} (first {len(y)} rows)"


def _from_csv(path: Path, target: str) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...]]:
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ValidationError(f"CSV file {path} {what}; check the --csv path.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(f"Could not parse {path} as CSV ({exc}).") from exc
    if target not in frame.columns:
        raise ValidationError(
            f"CSV {path.name} has no target column {target!r}; columns are: {', '.join(map(str, frame.columns))}. "
            "Pass the right one with --target."
        )
    if frame.empty:
        raise ValidationError(f"CSV {path.name} has a header but no data rows; add rows or pick another file.")
    y_raw = frame.pop(target)
    if frame.shape[1] == 0:
        raise ValidationError(
            f"CSV {path.name} has no feature column besides the target {target!r}; add numeric feature columns."
        )
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValidationError(
            f"CSV {path.name} has non-numeric feature columns {non_numeric}; encode or drop them first."
        )
    bad = frame.columns[frame.isna().any() | ~np.isfinite(frame.to_numpy(dtype=float)).all(axis=0)].tolist()
    if bad or y_raw.isna().any():
        where = bad + ([target] if y_raw.isna().any() else [])
        raise ValidationError(
            f"CSV {path.name} has missing or infinite values in columns {where}; clean or impute them first."
        )
    classes, y = np.unique(y_raw.to_numpy(), return_inverse=True)
    return frame.astype(float), y.astype(np.int64), tuple(str(c) for c in classes)


def load_dataset(
    name: str | None = "iris",
    *,
    csv: str | os.PathLike[str] | None = None,
    target: str | None = None,
    test_size: float = 0.3,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    standardize: bool = True,
) -> Dataset:
    """Load a named data set (or a CSV), split it stratified and seeded, and (``standardize``,
    the default) standardise it with the training split's mean and std."""
    from sklearn.model_selection import train_test_split

    if not 0.05 <= test_size <= 0.9:
        raise ValidationError(f"test_size (--test-size) must be in [0.05, 0.9]; got {test_size}.")
    if not 0 <= seed < 2**32:
        raise ValidationError(f"--seed must be an integer in [0, 2**32 - 1]; got {seed}.")
    if csv is not None:
        if not target:
            raise ValidationError("A --csv data set needs --target COLUMN naming the class column.")
        path = Path(csv)
        x, y, classes = _from_csv(path, target)
        ds_name, source = path.stem, str(path.resolve())
    else:
        key = (name or "").strip().lower().replace("_", "-")
        if key in ("breast", "breastcancer"):
            key = "breast-cancer"
        if key not in DATASETS:
            raise ValidationError(
                f"Unknown data set {name!r}; choose one of {', '.join(DATASETS)} or pass --csv PATH --target COLUMN."
            )
        if key in IMAGE_URLS:
            x, y, classes, source = _images(key, data_home(data_dir))
        elif key == "banknote":
            p = _banknote_path(data_home(data_dir))
            x, y, classes = _from_csv(p, "class")
            classes = ("genuine", "forged")
            source = f"{BANKNOTE_URL} (sha256 {hashlib.sha256(p.read_bytes()).hexdigest()[:16]}…)"
        else:
            x, y, classes = _sklearn(key)
            source = f"scikit-learn load_{key.replace('-', '_')}"
        ds_name = key
    counts = np.bincount(y)
    if len(classes) < 2:
        raise ValidationError(f"Data set {ds_name!r} has a single class; classification needs at least two.")
    if counts.min() < 2:
        raise ValidationError(
            f"Data set {ds_name!r} has a class with fewer than 2 rows; a stratified split needs at least 2 per class."
        )
    xa = x.to_numpy(dtype=np.float64)
    try:
        x_tr, x_te, y_tr, y_te = train_test_split(
            xa, y, test_size=test_size, random_state=seed, stratify=y
        )
    except ValueError as exc:  # too few rows for this test_size and number of classes
        raise ValidationError(
            f"Cannot split data set {ds_name!r} ({len(y)} rows, {len(classes)} classes) with test_size "
            f"{test_size} ({str(exc).splitlines()[0].rstrip('.')}); use more rows or another --test-size."
        ) from None
    if standardize:
        mean = x_tr.mean(axis=0)
        scale = x_tr.std(axis=0)
        scale[scale == 0] = 1.0
    else:
        mean, scale = np.zeros(xa.shape[1]), np.ones(xa.shape[1])
    return Dataset(
        name=ds_name,
        feature_names=tuple(str(c) for c in x.columns),
        class_names=classes,
        x_train=((x_tr - mean) / scale).astype(np.float32),
        y_train=y_tr.astype(np.int64),
        x_test=((x_te - mean) / scale).astype(np.float32),
        y_test=y_te.astype(np.int64),
        mean=mean,
        scale=scale,
        seed=seed,
        test_size=test_size,
        source=source,
        standardized=bool(standardize),
    )
