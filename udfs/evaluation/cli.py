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


#: Parameters through which a detector takes the expected value range (unless its class
#: names them in ``value_range_params``); NAB hands every detector the min and max of the
#: whole file (``inputMin``/``inputMax``) before the first row.
RANGE_PARAMS = ("input_min", "input_max")


@evaluate.command()
@click.option("--detector", "-d", "specs", multiple=True, metavar="NAME[:K=V,...]",
              help="Detector to score, with optional detector and calibration parameters, e.g. "
                   "'zscore:mode=ewma,alpha=0.05', 'sigma:full_duration=10d' (durations with their unit) or "
                   "'mad:calibration=spot,risk=1e-4' (repeatable; default: every registered numeric detector "
                   "with its defaults).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("data/nab"),
              show_default=True,
              help="NAB data: the bundled subset or a NAB checkout (data/<category>/*.csv and "
                   "labels/combined_windows.json; all 58 files of a full NAB).")
@click.option("--markdown", is_flag=True, help="Print the README table (and per-profile details) as Markdown.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document: per detector and profile, the threshold sweep, the raw-score sweep "
                   "and the own verdicts, each with its threshold, normalised and raw score, TP/FP/FN.")
@click.option("--export-results", "export_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Write NAB results files DIR/<detector>/<category>/<detector>_<file>.csv "
                                  "(timestamp,value,anomaly_score,label; scores in [0, 1]) for NAB's run.py.")
@click.option("--details", is_flag=True, help="Also print thresholds, raw scores and TP/FP/FN per profile.")
@click.option("--random-baseline", "random_seed", type=int, default=None, metavar="SEED",
              help="Add a row for uniform random scores (NAB's 'random' detector) drawn with this seed.")
@click.option("--progress/--no-progress", default=None, help="Progress bars on stderr (default: if a tty).")
def nab(specs: tuple[str, ...], data_dir: Path, markdown: bool, as_json: bool, export_dir: Path | None,
        details: bool, random_seed: int | None, progress: bool | None) -> None:
    """Stream every NAB series through each detector and compute NAB scores.

    Each detector runs exactly as in its UDF: the streaming detector, one
    `update(t, x)` per row, followed by the same calibration and cooldown
    (`.calibration()`, `.risk()`, `.cooldown()`; give them as parameters to change
    them). Scores are normalised NAB scores for the standard, reward_low_FP_rate and
    reward_low_FN_rate profiles: with NAB's best single threshold on the raw anomaly
    score, on the calibrated score, and for the own is_anomaly verdicts. A detector
    taking an expected range (input_min, input_max) is scored without it and with
    each file's min and max, as NAB hands them ("NAB range"); in that run a detector
    whose NAB wrapper derives parameters from the probationary period (cad_ose's rest:
    a fifth of it) gets those too, unless given.
    """
    import json

    from udfs.detectors import REGISTRY
    from udfs.detectors.calibration import calibrated
    from udfs.evaluation import evaluate_run, load_corpus, run_detector
    from udfs.evaluation.nab_export import export_results, nab_detector_name, report_as_json
    from udfs.evaluation.nab_scoring import probationary_length
    from udfs.params.constraints import InvalidParameterError

    if progress is None:
        progress = sys.stderr.isatty()
    chosen = [parse_detector_spec(s) for s in specs] or [
        (name, {}) for name, cls in sorted(REGISTRY.items()) if getattr(cls, "input_kind", "float") == "float"
    ]
    corpus = load_corpus(data_dir)
    reports, documents = [], []
    for name, params in chosen:
        cls = REGISTRY.get(name)
        if cls is None:
            raise click.BadParameter(f"unknown detector {name!r}; known: {', '.join(sorted(REGISTRY))}",
                                     param_hint="--detector")
        # As the UDF runs it: calibrated, unless its verdicts are states or events (network).
        wrapped = calibrated(cls) if cls.takes_calibration() else cls
        try:
            params = _typed(wrapped, params)
            wrapped(**params)
        except (InvalidParameterError, TypeError, ValueError) as exc:
            raise click.BadParameter(f"{name}: {exc}", param_hint="--detector") from None
        # In the user's units: cooldown=1h, not 3600000000000.
        label = name + (":" + ",".join(f"{k}={_label_value(wrapped.parameters[k], v)}" for k, v in params.items())
                        if params else "")
        runs: list[tuple[str, Any, bool]] = [(label, None, False)]
        names = tuple(getattr(cls, "value_range_params", None) or RANGE_PARAMS)
        if all(p in cls.parameters for p in names) and not any(p in params for p in names):
            # and, as NAB's wrapper of the detector does, parameters set from the probationary period
            shares = {k: v for k, v in getattr(cls, "probation_params", {}).items() if k not in params}

            def with_range(nab_file: Any, params: dict[str, Any] = params, wrapped: Any = wrapped,
                           names: tuple[str, ...] = names, shares: dict[str, float] = shares) -> Any:
                low, high = float(nab_file.values.min()), float(nab_file.values.max())
                probation = probationary_length(len(nab_file))
                derived = {k: int(probation * share) for k, share in shares.items()}
                return wrapped(**params, **derived, **{names[0]: low, names[1]: high})
            runs.append((f"{label} (NAB range)", with_range, True))
        for run_label, for_file, nab_range in runs:
            click.echo(f"evaluating {run_label} ...", err=True)
            run = run_detector(functools.partial(wrapped, **params), corpus, progress=progress, for_file=for_file)
            report = evaluate_run(corpus, run, name=run_label)
            reports.append(report)
            documents.append(report_as_json(report, nab_range=nab_range,
                                            params={**wrapped(**params).params()}))
            if export_dir is not None:
                directory = nab_detector_name(run_label.replace(" (NAB range)", "_nab_range"))
                export_results(corpus, run, export_dir, directory)
                click.echo(f"wrote {len(corpus)} NAB results files to {export_dir / directory}", err=True)
            if not markdown and not as_json:
                click.echo(report.to_markdown(header=len(reports) == 1))
    if random_seed is not None:
        import numpy as np

        from udfs.evaluation import evaluate_scores

        rng = np.random.default_rng(random_seed)
        scores = {f.key: rng.random(len(f)) for f in corpus}
        reports.append(evaluate_scores(corpus, scores, detector=f"random (seed {random_seed})"))
        documents.append(report_as_json(reports[-1], nab_range=False, params={}))
        if not markdown and not as_json:
            click.echo(reports[-1].to_markdown(header=len(reports) == 1))
    if as_json:
        click.echo(json.dumps({"data_dir": str(data_dir), "files": len(corpus), "windows": corpus.n_windows,
                               "detectors": documents}, indent=2, default=_json_default))
        return
    if markdown:
        click.echo(reports[0].markdown_header())
        for report in reports:
            click.echo(report.markdown_row())
    if details:
        for report in reports:
            click.echo(f"\n{report.detector}\n{report.details_markdown()}")


def _label_value(param: Any, value: Any) -> str:
    """A parameter value as a report label shows it: durations in their unit, lists joined by '+'."""
    if param.kind == "duration":
        return str(param.format(value))
    if isinstance(value, tuple):
        return "+".join(map(str, value))
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return str(value)
