"""Pre-trained models on disk: ``NAME.joblib`` next to ``NAME.json``, checked before loading.

``udfs train`` writes both; a UDF given ``.model('NAME')`` loads them with
:func:`load_model`. A joblib file is a pickle: **loading one runs whatever code it
carries**, with the rights of the Kapacitor (or ``udfs serve``) user. So a model is
unpickled only after every check below has passed, and the model directory must be
writable only by people you would let run code as that user. The checks:

1. the name stays inside the model directory: relative, no ``..``, and the resolved
   files (symlinks followed) lie under the resolved directory;
2. the metadata ``NAME.json`` exists and its ``sha256`` is that of the bytes about to
   be unpickled (read once, so the file cannot change between check and load);
3. the metadata's detector, fields (same order) and lags are the task's.

The checksum catches a model replaced, truncated or edited without its metadata; it
is no signature: whoever can write both files can still run code.

The model directory is set by whoever deploys the UDFs: the ``MODEL_PATH``
environment variable, or ``models`` under the working directory (Kapacitor's, for a
process UDF: set ``MODEL_PATH`` in ``kapacitor.conf``'s ``[udf.functions.NAME.env]``
to be sure). A TICKscript's ``.model_dir()`` can only pick a directory inside it
(:func:`task_model_dir`): people who may define tasks must not be able to point the
UDF at a directory they can write to, which would let them run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "METADATA_FORMAT",
    "MODEL_PATH_ENV",
    "ModelError",
    "load_model",
    "model_dir",
    "model_paths",
    "save_model",
    "task_model_dir",
]

MODEL_PATH_ENV = "MODEL_PATH"
METADATA_FORMAT = "udfs-model"


class ModelError(ValueError):
    """A model that cannot (or must not) be loaded, and why."""


def model_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The model directory: ``explicit`` (an operator's CLI flag), else ``$MODEL_PATH``, else ``./models``."""
    return Path(explicit or os.environ.get(MODEL_PATH_ENV) or "models")


def task_model_dir(option: str) -> Path:
    """The directory a task's ``.model_dir()`` option picks: the configured one, or a directory inside it.

    Examples
    --------
    >>> os.environ[MODEL_PATH_ENV] = "/srv/models"
    >>> str(task_model_dir("printers"))
    '/srv/models/printers'
    >>> task_model_dir("/tmp")
    Traceback (most recent call last):
    ...
    udfs.models.store.ModelError: model_dir '/tmp' is outside the model directory '/srv/models' ($MODEL_PATH); a \
TICKscript may only choose a directory inside it
    >>> del os.environ[MODEL_PATH_ENV]
    """
    base = model_dir()
    if not option:
        return base
    candidate = Path(option) if Path(option).is_absolute() else base / option
    resolved_base = _resolve(base, "the model directory")
    resolved = _resolve(candidate, f"model_dir {option!r}")
    if resolved != resolved_base and resolved_base not in resolved.parents:
        raise ModelError(
            f"model_dir {option!r} is outside the model directory {str(base)!r} (${MODEL_PATH_ENV}); "
            "a TICKscript may only choose a directory inside it"
        )
    return candidate


def model_paths(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """The resolved ``(NAME.joblib, NAME.json)`` of model ``name``, refused if they leave ``directory``.

    Examples
    --------
    >>> model_paths("/srv/models", "../etc/passwd")
    Traceback (most recent call last):
    ...
    udfs.models.store.ModelError: model name '../etc/passwd' must not contain '..'
    """
    name = name.removesuffix(".joblib")
    if not name or "\0" in name:
        raise ModelError(f"model name {name!r} is empty or not a file name")
    relative = Path(name)
    if relative.is_absolute():
        raise ModelError(f"model name {name!r} must be relative to the model directory, not an absolute path")
    if ".." in relative.parts:
        raise ModelError(f"model name {name!r} must not contain '..'")
    root = _resolve(Path(directory), "the model directory")
    paths = tuple(_resolve(root / f"{name}{suffix}", f"model {name!r}") for suffix in (".joblib", ".json"))
    for path in paths:
        if not path.is_relative_to(root):
            raise ModelError(f"{path.name} resolves to {path}, outside the model directory {root} (a symlink?)")
    return paths[0], paths[1]


def _resolve(path: Path, what: str) -> Path:
    """``path.resolve()``, with a symlink loop or a name the OS refuses (ENAMETOOLONG) as a ModelError."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: Python < 3.13's "Symlink loop from ..."
        raise ModelError(f"{what} cannot be resolved: {exc}") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(model: Any, directory: str | os.PathLike[str], name: str, metadata: Mapping[str, Any]) -> Path:
    """Write ``model`` with joblib and its metadata (plus ``sha256``, ``file``); return the joblib path."""
    import joblib

    Path(directory).mkdir(parents=True, exist_ok=True)
    model_path, meta_path = model_paths(directory, name)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    document = {"format": METADATA_FORMAT, **metadata, "file": model_path.name, "sha256": _sha256(data)}
    # Each file appears whole (rename): a UDF never reads half a model.
    for path, content in ((model_path, data), (meta_path, (json.dumps(document, indent=2) + "\n").encode())):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
    return model_path


def _is_file(path: Path, name: str) -> bool:
    try:
        return path.is_file()
    except OSError as exc:  # ENAMETOOLONG and the like: not "missing", refused as what it is
        shown = repr(name) if len(name) <= 60 else f"{name[:40]!r}... ({len(name)} characters)"
        raise ModelError(f"model {shown}, its {path.suffix} file: {exc.strerror or exc}") from None


def _read_metadata(path: Path, name: str) -> dict[str, Any]:
    if not _is_file(path, name):
        raise ModelError(f"model {name!r} has no metadata {path.name}: a model is loaded only with its checksum")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"metadata {path.name} is unreadable: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != METADATA_FORMAT:
        raise ModelError(f"{path.name} is not udfs model metadata (format {METADATA_FORMAT!r})")
    if not isinstance(document.get("sha256"), str):
        raise ModelError(f"metadata {path.name} has no sha256")
    return document


def load_model(
    directory: str | os.PathLike[str],
    name: str,
    *,
    detector: str,
    fields: Sequence[str],
    lags: int,
) -> tuple[Any, dict[str, Any]]:
    """Model ``name`` and its metadata, after the checks in the module doc; raise :class:`ModelError`.

    Version differences (scikit-learn, joblib) are allowed, but reported in the
    metadata returned under ``"warnings"``.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ModelError(f"model directory {str(root)!r} does not exist (option model_dir or ${MODEL_PATH_ENV})")
    model_path, meta_path = model_paths(root, name)
    metadata = _read_metadata(meta_path, name)
    if not _is_file(model_path, name):
        raise ModelError(f"model file {model_path.name} is missing from {root.resolve()}")
    try:
        data = model_path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model file {model_path.name} is unreadable: {exc}") from None
    if _sha256(data) != metadata["sha256"]:
        raise ModelError(
            f"{model_path.name} does not match the sha256 in {meta_path.name}: changed since training; not loaded"
        )
    if metadata.get("detector") != detector:
        raise ModelError(f"model {name!r} is a {metadata.get('detector')!r} model, not {detector!r}")
    if list(metadata.get("fields", ())) != list(fields) or metadata.get("lags", 0) != lags:
        raise ModelError(
            f"model {name!r} was trained on fields {','.join(map(str, metadata.get('fields', ())))} "
            f"with lags {metadata.get('lags', 0)}; this task reads fields {','.join(fields)} with lags {lags}"
        )
    import joblib

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = joblib.load(io.BytesIO(data))
        except Exception as exc:
            raise ModelError(f"{model_path.name} passed its checks but cannot be loaded: {exc}") from None
    metadata["warnings"] = [str(w.message) for w in caught]
    return model, metadata
