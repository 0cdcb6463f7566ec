"""Download and integrity helpers for the vision datasets (``torchvision.datasets.utils``)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from typing import Optional

__all__ = ["calculate_md5", "check_md5", "check_integrity", "download_url", "extract_archive"]

USER_AGENT = "rustorch"


def calculate_md5(fpath: str, chunk_size: int = 1024 * 1024) -> str:
    """The hex MD5 digest of a file."""
    md5 = hashlib.md5()
    with open(fpath, "rb") as f:
        while chunk := f.read(chunk_size):
            md5.update(chunk)
    return md5.hexdigest()


def check_md5(fpath: str, md5: str) -> bool:
    return md5 == calculate_md5(fpath)


def check_integrity(fpath: str, md5: Optional[str] = None) -> bool:
    """Whether ``fpath`` is a file (with MD5 ``md5``, when given)."""
    if not os.path.isfile(fpath):
        return False
    if md5 is None:
        return True
    return check_md5(fpath, md5)


def download_url(
    url: str, root: str, filename: Optional[str] = None, md5: Optional[str] = None
) -> str:
    """Download ``url`` into ``root/filename`` (skipped if already there with the right MD5).

    Raises ``RuntimeError`` naming the URL when it cannot be fetched (no network, HTTP
    error, bad URL), and naming the file if the downloaded MD5 does not match.
    """
    root = os.path.expanduser(root)
    if not filename:
        filename = os.path.basename(url)
    fpath = os.path.join(root, filename)
    os.makedirs(root, exist_ok=True)

    if check_integrity(fpath, md5):
        return fpath

    tmp = fpath + ".part"
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(tmp, "wb") as fh:
            shutil.copyfileobj(response, fh, length=1024 * 1024)
    except (urllib.error.URLError, OSError, ValueError) as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise RuntimeError(f"Error downloading {url} to {fpath}: {e}") from e
    os.replace(tmp, fpath)

    if not check_integrity(fpath, md5):
        raise RuntimeError(f"{fpath}: MD5 mismatch after downloading {url} (expected {md5})")
    return fpath


def extract_archive(from_path: str, to_path: Optional[str] = None) -> str:
    """Extract a ``.tar.gz`` / ``.tgz`` / ``.tar`` / ``.zip`` archive (refusing members that
    would land outside ``to_path``) or decompress a single ``.gz`` file."""
    if to_path is None:
        to_path = os.path.dirname(from_path)
    if from_path.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(from_path) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(to_path, filter="data")
            else:  # pragma: no cover - Python < 3.12 without the backport
                for member in tar.getmembers():
                    target = os.path.realpath(os.path.join(to_path, member.name))
                    if not target.startswith(os.path.realpath(to_path) + os.sep):
                        raise RuntimeError(f"{from_path}: unsafe path in archive: {member.name}")
                tar.extractall(to_path)
        return to_path
    if from_path.endswith(".zip"):
        with zipfile.ZipFile(from_path) as zf:
            root = os.path.realpath(to_path)
            for member in zf.namelist():
                target = os.path.realpath(os.path.join(to_path, member))
                if target != root and not target.startswith(root + os.sep):
                    raise RuntimeError(f"{from_path}: unsafe path in archive: {member}")
            zf.extractall(to_path)
        return to_path
    if from_path.endswith(".gz"):
        out = os.path.join(to_path, os.path.basename(from_path)[: -len(".gz")])
        with gzip.open(from_path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return out
    raise RuntimeError(f"{from_path}: unsupported archive type")
