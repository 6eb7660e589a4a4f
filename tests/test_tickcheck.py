"""The TICKscript checker against what a real Kapacitor 1.5.7 says at ``kapacitor define``.

``fixtures/kapacitor-define-errors.md`` (a copy of ``../shared/fixtures/``) records real
Kapacitor's message for each bad UDF call; every case is replayed here, message and
position exact. The scripts of the recorded protocol transcripts were accepted by that
Kapacitor, so the checker must accept them too; and every shipped TICKscript must pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from udfs.cli import main
from udfs.tickscript.checker import check_file, check_script
from udfs.tickscript.udfdefs import UDFDeclaration, known_udfs, load_udf_info, udf_names_from_conf
from udfs.tickscript.vars import VarsError, check_vars, load_vars, var_types

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "kapacitor-define-errors.md"
TRANSCRIPTS = Path(__file__).parent / "protocol" / "kapacitor-transcripts"
SHIPPED = sorted((ROOT / "tickscripts").rglob("*.tick"))
VARS_FILES = sorted((ROOT / "tickscripts" / "vars").glob("*.json"))

# The recorded UDF, as the fixture describes its InfoResponse.
RECSTREAM_OPTIONS = {
    "field": ("STRING",), "size": ("INT",), "threshold": ("DOUBLE",), "enabled": ("BOOL",),
    "window": ("DURATION",), "pair": ("STRING", "DOUBLE"), "flag": (),
}
RECSTREAM = UDFDeclaration("recstream", RECSTREAM_OPTIONS)
UDFS = {"recstream": RECSTREAM}


def _fixture_cases() -> list[tuple[str, str, str]]:
    text = FIXTURE.read_text(encoding="utf-8")
    template = re.search(r"```\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    cases = re.findall(r"^### `(.*)`\n    (.*)$", text, re.M)
    return [(call, template.replace("<the UDF call below>", call), said) for call, said in cases]


def kapacitor_says(script: str, udfs: dict[str, UDFDeclaration] = UDFS, **kwargs: object) -> list[str]:
    return [p.kapacitor for p in check_script(script, udfs, **kwargs).problems]  # type: ignore[arg-type]


def position(script: str, needle: str) -> tuple[int, int]:
    """Kapacitor's line/char of the first ``needle`` (1-based line, 1-based byte column)."""
    index = script.index(needle)
    start = script.rfind("\n", 0, index) + 1
    return script.count("\n", 0, index) + 1, len(script[start:index].encode()) + 1


# --- the recorded real-Kapacitor cases ---------------------------------------------------

def test_fixture_has_every_case() -> None:
    assert len(_fixture_cases()) == 14


@pytest.mark.parametrize(("call", "script", "said"), _fixture_cases(), ids=[c[0] for c in _fixture_cases()])
def test_fixture_case(call: str, script: str, said: str) -> None:
    got = kapacitor_says(script)
    assert got == ([] if said == "(accepted)" else [said])


def test_fixture_positions_point_at_the_option_name_and_the_udf_name() -> None:
    # Line 5 is "    @recstream().size(10.0)": char 18 is the 's' of size, char 6 the 'n' of nosuchudf.
    bad_option = check_script(_fixture_cases()[1][1], UDFS).problems[0]
    unknown_udf = check_script(_fixture_cases()[10][1], UDFS).problems[0]
    assert (bad_option.line, bad_option.char, bad_option.message) == (
        5, 18, "unexpected arg to size, got DOUBLE expected INT")
    assert (unknown_udf.line, unknown_udf.char) == (5, 6)
    assert str(unknown_udf) == '5:6: no method or property "nosuchudf" on *pipeline.FromNode'


@pytest.mark.parametrize(("tick", "udf", "responses"), [
    ("stream.tick", "recstream", "stream.responses.jsonl"),
    ("batch.tick", "recbatch", "batch.responses.jsonl"),
    ("socket.tick", "recsock", "socket.conn1.responses.jsonl"),
])
def test_scripts_a_real_kapacitor_accepted_pass(tick: str, udf: str, responses: str) -> None:
    info = json.loads((TRANSCRIPTS / responses).read_text().splitlines()[0])["info"]
    options = {name: tuple(o.get("valueTypes", ())) for name, o in info["options"].items()}
    edges = (info.get(key, "STREAM").lower() for key in ("wants", "provides"))
    declaration = UDFDeclaration(udf, options, *edges)
    report = check_file(TRANSCRIPTS / tick, {udf: declaration})
    assert report.problems == []
    assert report.task_type == tick.split(".")[0].replace("socket", "stream")
    assert report.dbrps == [("telegraf", "autogen")]


# --- the shipped scripts and vars files (CI checks what we ship) -------------------------

@pytest.mark.parametrize("script", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_shipped_tickscript_has_no_errors(script: Path) -> None:
    report = check_file(script)  # against this package's own UDF registry
    assert [str(p) for p in report.problems] == []
    assert report.task_type in ("stream", "batch")


def test_alert_scripts_are_shipped() -> None:
    names = {p.name for p in SHIPPED}
    assert {"anomaly_alert.tick", "state_change_alert.tick"} <= names


@pytest.mark.parametrize("vars_file", VARS_FILES, ids=[p.name for p in VARS_FILES])
def test_vars_file_sets_only_declared_vars_with_their_types(vars_file: Path) -> None:
    scripts = [p for p in SHIPPED if p.stem == vars_file.stem]
    assert len(scripts) == 1, f"{vars_file.name} names no single script"
    document = load_vars(vars_file)
    report = check_file(scripts[0], given_vars=var_types(document))
    assert report.problems == []
    assert check_vars(document, report.declared_vars) == []


def test_there_is_a_vars_file_for_each_detector_script() -> None:
    assert {p.stem for p in VARS_FILES} >= {"edge", "iqr", "mad", "sigma", "zscore"}


# --- edge cases of the language ----------------------------------------------------------

def test_comments_and_strings_hide_code() -> None:
    script = (
        "// @nosuchudf() and .size(1.0) in a comment\n"
        "stream\n"
        "    |from() // a trailing comment with 'quote and (paren\n"
        "        .measurement('it\\'s | @nosuch() // not a comment')\n"
        "    @recstream()\n"
        "        // .size(10.0)\n"
        "        .size(10) // .threshold(1)\n"
    )
    assert kapacitor_says(script) == []


def test_multi_line_chain_and_arguments() -> None:
    script = (
        "stream\n    |from()\n    @recstream()\n        .field('v')\n"
        "        .pair(\n            'x',\n            1\n        )\n"
    )
    assert check_script(script, UDFS).problems[0].kapacitor == (
        "invalid TICKscript: line 5 char 10: unexpected arg to pair, got INT expected DOUBLE")


def test_later_option_errors_are_positioned_at_their_own_name() -> None:
    script = "stream|from()@recstream().field('v').size(10).threshold(1)"
    line, char = position(script, "threshold")
    assert kapacitor_says(script) == [
        f"invalid TICKscript: line {line} char {char}: unexpected arg to threshold, got INT expected DOUBLE"]


def test_nested_parentheses_keep_the_type() -> None:
    assert kapacitor_says("stream|from()@recstream().size((10)).threshold((2.0 * (1.0 + 1.0)))") == []
    assert kapacitor_says("stream|from()@recstream().size((2.5))")[0].endswith("got DOUBLE expected INT")


def test_lambda_argument_arrives_as_the_zero_type_bool() -> None:
    # Kapacitor's UDFNode leaves the OptionValue type at 0 (BOOL) for anything but the 5 wire types.
    assert kapacitor_says("stream|from()@recstream().field(lambda: \"x\" > 0)")[0].endswith(
        "unexpected arg to field, got BOOL expected STRING")
    assert kapacitor_says("stream|from()@recstream().enabled(lambda: TRUE)") == []
    assert kapacitor_says("stream|from()@recstream().field(\"value\")")[0].endswith("got BOOL expected STRING")


def test_vars_resolve_to_their_literal_types() -> None:
    script = (
        "var size = 10\nvar threshold = 10\nvar window = 5m\nvar name = 'value'\nvar on = FALSE\n"
        "stream|from()@recstream().size(size).threshold(threshold).window(window).field(name).enabled(on)\n"
    )
    line, char = position(script, "threshold(threshold)")
    assert kapacitor_says(script) == [
        f"invalid TICKscript: line {line} char {char}: unexpected arg to threshold, got INT expected DOUBLE"]


def test_undefined_name_lists_the_names_in_scope() -> None:
    script = "var a = 1\nstream|from()@recstream().field(later)\nvar later = 'x'\n"
    assert kapacitor_says(script) == [
        'invalid TICKscript: name "later" is undefined. Names in scope: time,stream,a']
    batch = "batch|query('SELECT 1').period(m)"
    assert kapacitor_says(batch) == ['invalid TICKscript: name "m" is undefined. Names in scope: time,batch']
    lambda_ = "stream|from().where(lambda: \"host\" == hostname)"
    assert kapacitor_says(lambda_)[0].startswith('invalid TICKscript: name "hostname" is undefined')


@pytest.mark.parametrize("literal", ["5m", "10s", "500ms", "1d", "1w", "1u", "1µ", "90s", "-5m", "0s"])
def test_duration_literals(literal: str) -> None:
    assert kapacitor_says(f"stream|from()@recstream().window({literal})") == []


@pytest.mark.parametrize(("literal", "kind"), [
    ("10.0", "DOUBLE"), (".5", "DOUBLE"), ("-2.5", "DOUBLE"), ("10", "INT"), ("-3", "INT"),
    ("'x'", "STRING"), ("'''x'''", "STRING"), ("''", "STRING"), ("TRUE", "BOOL"), ("FALSE", "BOOL"),
    ("5m", "DURATION"), ("/x/", "BOOL"), ("*", "BOOL"),
])
def test_literal_types(literal: str, kind: str) -> None:
    says = kapacitor_says(f"stream|from()@recstream().size({literal})")
    assert says == ([] if kind == "INT" else [says[0]])
    if kind != "INT":
        assert says[0].endswith(f"got {kind} expected INT")


@pytest.mark.parametrize(("literal", "token"), [("1h30m", "duration"), ("1e3", "identifier"), ("10ns", "identifier")])
def test_literals_kapacitor_cannot_parse(literal: str, token: str) -> None:
    problems = check_script(f"stream|from()@recstream().window({literal})", UDFS).problems
    assert len(problems) == 1
    assert problems[0].message.startswith(f"parser: unexpected {token} line 1 char ")


def test_a_single_list_argument_is_spread_like_kapacitor_does() -> None:
    assert kapacitor_says("var groupBy = ['host']\nstream|from()@recstream().field(groupBy).field(['v'])") == []
    assert kapacitor_says("var p = 1.5\nstream|from()@recstream().pair(['x', p])") == []
    assert kapacitor_says("stream|from()@recstream().pair(['x'], 1.5)")[0].endswith(
        "unexpected arg to pair, got BOOL expected STRING")
    assert kapacitor_says("stream|from()@recstream().pair(['x'])")[0].endswith(
        "unexpected number of args to pair, got 1 expected 2")


@pytest.mark.parametrize(("before", "go_type"), [
    ("stream", "StreamNode"),
    ("stream|from()|window().period(1m).every(1m)", "WindowNode"),
    ("stream|from()|mean('x')", "InfluxQLNode"),
    ("stream|from()|httpOut('x')", "HTTPOutNode"),
    ("stream|from()|changeDetect('x')", "ChangeDetectNode"),
    ("stream|from()|stateDuration(lambda: TRUE)", "StateDurationNode"),
    ("stream|from()@recstream()", "UDFNode"),
    ("batch|query('SELECT 1')", "QueryNode"),
])
def test_unknown_udf_names_the_node_it_was_called_on(before: str, go_type: str) -> None:
    script = f"{before}@nosuch()"
    line, char = position(script, "nosuch")
    assert kapacitor_says(script) == [
        f'invalid TICKscript: line {line} char {char}: no method or property "nosuch" on *pipeline.{go_type}']


def test_wrong_operator_hints_like_kapacitor() -> None:
    assert kapacitor_says("stream|from()|recstream()") == [
        "invalid TICKscript: line 1 char 15: no chaining method \"recstream\" on *pipeline.FromNode, "
        "but dynamic method does exist. Use '@' operator instead: 'node@recstream(..)'."]
    assert kapacitor_says("stream|from()@window()")[0].endswith(
        "no dynamic method \"window\" on *pipeline.FromNode, but chaining method does exist. "
        "Use '|' operator instead: 'node|window(..)'.")
    assert kapacitor_says("stream|from()@recstream().alert()")[0].endswith(
        "no property method \"alert\" on *pipeline.UDFNode, but chaining method does exist. "
        "Use '|' operator instead: 'node|alert(..)'.")


def test_every_independent_problem_is_reported_in_order() -> None:
    script = "stream|from().measurement(meas)@recstream().size(1.0).threshold(1)@nosuch()"
    assert [p.message.split(",")[0] for p in check_script(script, UDFS).problems] == [
        'name "meas" is undefined. Names in scope: time',
        "unexpected arg to size",
        "unexpected arg to threshold",
        'no method or property "nosuch" on *pipeline.UDFNode',
    ]


def test_vars_are_immutable() -> None:
    assert kapacitor_says("var a = 1\nvar a = 2\nstream|from()") == [
        "invalid TICKscript: attempted to redefine a, vars are immutable"]
    assert kapacitor_says("var stream = 1\nstream|from()") == [
        "invalid TICKscript: attempted to redefine stream, vars are immutable"]


def test_char_counts_bytes_like_kapacitor() -> None:
    script = "stream|from().measurement('température')@recstream().size(1.0)"
    problem = check_script(script, UDFS).problems[0]
    assert problem.char == len(script[: script.index("size")].encode()) + 1 == script.index("size") + 2
    tabbed = "stream\n\t|from()\n\t@recstream().size(1.0)"
    assert check_script(tabbed, UDFS).problems[0].char == 15


def test_template_vars_without_value() -> None:
    script = "var f string\nstream|from()@recstream().field(f)"
    assert kapacitor_says(script) == ['invalid TICKscript: missing value for var "f".']
    assert kapacitor_says(script, template=True) == []
    assert kapacitor_says(script, given_vars={"f": "string"}) == []
    typed = "var n int\nstream|from()@recstream().threshold(n)"
    assert kapacitor_says(typed, template=True)[0].endswith("got INT expected DOUBLE")


@pytest.mark.parametrize(("script", "start"), [
    ("stream|from(", 'parser: unexpected EOF line 1 char 13 in "'),
    ("stream|from().measurement('cpu)", "unexpected unterminated string line 1 char 27"),
    ("stream|from().where(lambda: \"host == 'a')", "unexpected unterminated field reference line 1 char 29"),
    ("stream|from()\n    .measurement('cpu'))", "parser: unexpected ) line 2 char 24"),
    ("stream|from()@_x()", "unexpected unknown state, last char: '_' line 1 char 15"),
])
def test_syntax_errors(script: str, start: str) -> None:
    problems = check_script(script, UDFS).problems
    assert len(problems) == 1 and start in problems[0].message


def test_a_script_without_stream_or_batch_is_refused() -> None:
    assert check_script("var x = 1\n", UDFS).problems[0].message.startswith("invalid task type")


def test_default_declarations_are_this_packages_udfs() -> None:
    assert check_script("stream|from()@mad().window(10.0)").problems[0].message == (
        "unexpected arg to window, got DOUBLE expected INT")


def test_third_party_udfs_from_info_json_and_kapacitor_conf(tmp_path: Path) -> None:
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"recstream": {"options": {"size": ["INT"], "flag": []}}}))
    conf = tmp_path / "kapacitor.conf"
    conf.write_text('[udf]\n[udf.functions]\n  [udf.functions.recstream]\n    socket = "/x.sock"\n'
                    '  [udf.functions.other]\n    prog = "/bin/x"\n  [udf.functions.other.env]\n')
    assert udf_names_from_conf(conf) == ["recstream", "other"]
    assert load_udf_info(info)["recstream"].options == {"size": ("INT",), "flag": ()}
    udfs = known_udfs(kapacitor_conf=conf, udf_info=info)
    assert set(udfs) == {"recstream", "other"}
    assert kapacitor_says("stream|from()@recstream().size(1.0)", udfs)[0].endswith("got DOUBLE expected INT")
    assert kapacitor_says("stream|from()@other().anything(1, 'x')", udfs) == []  # options unknown: unchecked
    assert kapacitor_says("stream|from()@mad()", udfs)[0].endswith('"mad" on *pipeline.FromNode')
    assert "mad" in known_udfs(udf_info=info) and "recstream" in known_udfs(udf_info=info)
    info.write_text(json.dumps({"bad": {"options": {"size": ["LONG"]}}}))
    with pytest.raises(ValueError, match="option 'size' must list value types"):
        load_udf_info(info)


# --- vars files --------------------------------------------------------------------------

def test_vars_problems(tmp_path: Path) -> None:
    declared = {"field": "string", "size": "int", "groups": "list", "data": None}
    document: dict[str, Any] = {
        "field": {"type": "string", "value": "x"},
        "size": {"type": "float", "value": 2.5},
        "nosuch": {"type": "string", "value": "x"},
        "data": {"type": "string", "value": "x"},
        "groups": {"type": "list", "value": [{"type": "star", "value": "*"}]},
    }
    assert check_vars(document, declared) == [
        "invalid type supplied for size, got float exp int",
        "var 'nosuch' is not declared in the script (it declares: field, size, groups)",
        "var 'data' holds a pipeline node in the script; a vars file cannot set it",
    ]
    for bad, message in [
        ({"x": {"type": "int", "value": 1.5}}, "expected a int value, got 1.5"),
        ({"x": {"type": "duration", "value": "1h30"}}, "not a duration"),
        ({"x": {"type": "list", "value": ["host"]}}, "list items must be"),
        ({"x": {"type": "number", "value": 1}}, "unknown VarType number"),
        ({"x": {"value": 1}}, "expected {\"type\""),
    ]:
        path = tmp_path / "vars.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(VarsError, match=re.escape(message)):
            load_vars(path)


# --- the command line --------------------------------------------------------------------

def test_check_tick_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tick"
    bad.write_text(_fixture_cases()[1][1])
    good = tmp_path / "good.tick"
    good.write_text(_fixture_cases()[0][1])
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"recstream": {"options": {k: list(v) for k, v in RECSTREAM_OPTIONS.items()}}}))
    runner = CliRunner()
    result = runner.invoke(main, ["check-tick", "--udf-info", str(info), str(bad), str(good)])
    assert result.exit_code == 1
    assert result.output == f"{bad}:5:18: unexpected arg to size, got DOUBLE expected INT\n"
    result = runner.invoke(main, ["check-tick", "-q", "--udf-info", str(info), str(bad)])
    assert (result.exit_code, result.output) == (1, "")
    result = runner.invoke(main, ["check-tick", "-v", "--udf-info", str(info), str(good)])
    assert (result.exit_code, result.output) == (0, f"{good}: ok\n")
    result = runner.invoke(main, ["check-tick", str(ROOT / "tickscripts")])
    assert (result.exit_code, result.output) == (0, "")


def test_check_tick_cli_with_vars(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"window": {"type": "float", "value": 2.0}}))
    result = CliRunner().invoke(main, ["check-tick", "--vars", str(vars_file), str(ROOT / "tickscripts" / "mad.tick")])
    assert result.exit_code == 1
    assert "invalid type supplied for window, got float exp int" in result.output
