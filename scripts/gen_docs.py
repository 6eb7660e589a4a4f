"""Regenerate docs/UDFS.md (every UDF's options) from the UDF declarations.

    python scripts/gen_docs.py
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from udfs.cli import main as cli

OUT = Path(__file__).resolve().parent.parent / "docs" / "UDFS.md"
HEADER = """# UDF reference

Generated from the option declarations by `python scripts/gen_docs.py` (the same text as
`udfs list --markdown`); a test fails when it is out of date. Option types are checked by
Kapacitor at `kapacitor define` time (`.size(10)` is INT, `.size(10.0)` is DOUBLE);
values and ranges are checked by the UDF at `Init`, and a bad one stops the task with an
error naming the option. DURATION options take TICKscript durations (`90s`, `5m`, `1h`).

"""


def render() -> str:
    result = CliRunner().invoke(cli, ["list", "--markdown"])
    if result.exit_code != 0:
        raise SystemExit(result.output)
    return HEADER + result.output


def main() -> None:
    OUT.write_text(render())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
