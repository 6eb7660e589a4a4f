"""``udfs evaluate nab``: score detectors on the NAB subset with NAB's own rules.

Only click is imported at module level; the detectors load when a command runs.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["evaluate"]


def parse_detector_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"zscore:mode=ewma,alpha=0.05"`` -> ``("zscore", {"mode": "ewma", "alpha": 0.05})``.

    >>> parse_detector_spec("mad:window=200,threshold=4")
    ('mad', {'window': 200, 'threshold': 4})
    """
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} in {spec!r}: expected key=value", param_hint="--detector")
        params[key.strip()] = _literal(text.strip())
    return name.strip(), params


def _literal(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _typed(cls: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Spec values read as the detector declares them: ``full_duration=10d`` is a duration."""
    declared = cls.parameters
    return {key: declared[key].from_text(str(value)) if key in declared else value for key, value in params.items()}


@click.group()
def evaluate() -> None:
    """Measure detection quality."""


@evaluate.command()
@click.option("--detector", "-d", "specs", multiple=True, metavar="NAME[:K=V,...]",
              help="Detector to score, with optional parameters, e.g. 'zscore:mode=ewma,alpha=0.05' or "
                   "'sigma:full_duration=10d' (durations with their unit) "
                   "(repeatable; default: every registered numeric detector with its defaults).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("data/nab"),
              show_default=True, help="The NAB subset (CSV files and labels/combined_windows.json).")
@click.option("--markdown", is_flag=True, help="Print the README table (and per-profile details) as Markdown.")
@click.option("--details", is_flag=True, help="Also print thresholds, raw scores and TP/FP/FN per profile.")
@click.option("--random-baseline", "random_seed", type=int, default=None, metavar="SEED",
              help="Add a row for uniform random scores (NAB's 'random' detector) drawn with this seed.")
@click.option("--progress/--no-progress", default=None, help="Progress bars on stderr (default: if a tty).")
def nab(specs: tuple[str, ...], data_dir: Path, markdown: bool, details: bool, random_seed: int | None,
        progress: bool | None) -> None:
    """Stream every NAB series through each detector and compute NAB scores.

    Each detector sees the rows in order, one `update(t, x)` per row, exactly the
    streaming code the UDFs run. Scores are normalised NAB scores for the
    standard, reward_low_FP_rate and reward_low_FN_rate profiles, once with NAB's
    best single threshold on the anomaly score and once with the detector's own
    is_anomaly verdicts.
    """
    from udfs.detectors import REGISTRY
    from udfs.evaluation import evaluate as run_evaluation
    from udfs.params.constraints import InvalidParameterError

    if progress is None:
        progress = sys.stderr.isatty()
    chosen = [parse_detector_spec(s) for s in specs] or [
        (name, {}) for name, cls in sorted(REGISTRY.items()) if getattr(cls, "input_kind", "float") == "float"
    ]
    reports = []
    for name, params in chosen:
        cls = REGISTRY.get(name)
        if cls is None:
            raise click.BadParameter(f"unknown detector {name!r}; known: {', '.join(sorted(REGISTRY))}",
                                     param_hint="--detector")
        label = name + (":" + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")
        try:
            params = _typed(cls, params)
            cls(**params)
        except (InvalidParameterError, TypeError) as exc:
            raise click.BadParameter(f"{name}: {exc}", param_hint="--detector") from None
        click.echo(f"evaluating {label} ...", err=True)
        report = run_evaluation(functools.partial(cls, **params), data_dir, progress=progress, name=label)
        reports.append(report)
        if not markdown:
            click.echo(report.to_markdown(header=len(reports) == 1))
    if random_seed is not None:
        import numpy as np

        from udfs.evaluation import evaluate_scores, load_corpus

        corpus = load_corpus(data_dir)
        rng = np.random.default_rng(random_seed)
        scores = {f.key: rng.random(len(f)) for f in corpus}
        reports.append(evaluate_scores(corpus, scores, detector=f"random (seed {random_seed})"))
        if not markdown:
            click.echo(reports[-1].to_markdown(header=len(reports) == 1))
    if markdown:
        click.echo(reports[0].markdown_header())
        for report in reports:
            click.echo(report.markdown_row())
    if details:
        for report in reports:
            click.echo(f"\n{report.detector}\n{report.details_markdown()}")
