"""The downloaded image sets (MNIST, Fashion-MNIST, CIFAR-10): downloaded once over HTTP (here
from a server on 127.0.0.1 serving small files in the official formats), cached, read back
pixel for pixel, and usable by the built-in CNN."""

from __future__ import annotations

import gzip
import http.server
import io
import struct
import tarfile
import threading

import numpy as np
import pytest

from nifgraph import data as data_mod
from nifgraph.data import load_dataset
from nifgraph.errors import ValidationError

from .conftest import invoke


def _idx(arr: np.ndarray) -> bytes:
    head = b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return gzip.compress(head + arr.astype(np.uint8).tobytes())


@pytest.fixture
def server(tmp_path):
    """An HTTP server on loopback serving ``tmp_path/www``; counts requests."""
    www = tmp_path / "www"
    www.mkdir()
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(www), **k)

        def log_message(self, *a):
            hits.append(self.path)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{srv.server_address[1]}/", hits
    srv.shutdown()


def test_mnist_is_downloaded_once_and_read_pixel_for_pixel(server, monkeypatch, tmp_path):
    www, url, hits = server
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 28, 28))
    labels = np.repeat(np.arange(10), 6)
    (www / "train-images-idx3-ubyte.gz").write_bytes(_idx(images))
    (www / "train-labels-idx1-ubyte.gz").write_bytes(_idx(labels))
    monkeypatch.setitem(data_mod.IMAGE_URLS, "mnist", url)
    ds = load_dataset("mnist", standardize=False, test_size=0.5)
    assert ds.image_shape == (1, 28, 28) and ds.n_features == 784 and ds.class_names == tuple("0123456789")
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    flat = images.reshape(60, -1) / 255.0
    for row, label in zip(x, y, strict=True):  # every sample is one of the served images, with its label
        i = int(np.argmin(np.abs(flat - row).sum(axis=1)))
        assert np.allclose(flat[i], row, atol=1e-6) and labels[i] == label
    n = len(hits)
    load_dataset("mnist")
    assert len(hits) == n == 2  # cached: no second download
    monkeypatch.setenv("NIFGRAPH_IMAGE_ROWS", "30")
    assert len(load_dataset("mnist").y_train) + len(load_dataset("mnist").y_test) == 30


def test_cifar10_binary_archive_and_a_cnn_on_it(server, monkeypatch):
    www, url, _ = server
    rng = np.random.default_rng(1)
    rows = np.concatenate([np.repeat(np.arange(10), 4)[:, None], rng.integers(0, 256, (40, 3072))], axis=1)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        payload = rows.astype(np.uint8).tobytes()
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    (www / "cifar.tar.gz").write_bytes(buf.getvalue())
    monkeypatch.setitem(data_mod.IMAGE_URLS, "cifar10", url + "cifar.tar.gz")
    monkeypatch.setenv("NIFGRAPH_IMAGE_ROWS", "40")
    ds = load_dataset("cifar10", standardize=False)
    assert ds.image_shape == (3, 32, 32) and ds.class_names[0] == "airplane" and ds.feature_names[0] == "r_0_0"
    res = invoke("train", "--arch", "cnn", "--dataset", "cifar10", "--hidden", "2", "--epochs", "1", "--json")
    assert res.exit_code == 0, res.output


def test_an_unreachable_server_is_one_line_naming_the_cache(monkeypatch):
    monkeypatch.setitem(data_mod.IMAGE_URLS, "fashion-mnist", "http://127.0.0.1:9/")
    with pytest.raises(ValidationError, match="Could not download .* put a copy at"):
        load_dataset("fashion-mnist")
