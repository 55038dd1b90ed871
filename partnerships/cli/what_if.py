"""`partnerships what-if`: the recorded gates judged again under other rules; nothing changes."""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from partnerships.adapters.config import Settings
from partnerships.cli.app import JsonFlag, UserError, app, handles_errors, out
from partnerships.cli.render import WIDE_ENOUGH_FOR_TABLES

if TYPE_CHECKING:
    from partnerships.domain.portfolio import FunnelStage
    from partnerships.domain.what_if import Judgement, RuleSet, Verdict
    from partnerships.service.what_if import WhatIfReport

NOTHING_CHANGES = "Nothing running changes: this reads the store only."
OPTIONS = {
    "crawl_min_improvement_pct": "--crawl-min-improvement",
    "walk_min_adoption_pct": "--walk-min-adoption",
    "quorum": "--quorum",
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STAGE_NAMES = {"crawl": "Crawl gate", "walk": "Walk gate", "run": "Run (QBRs)"}


@app.command("what-if")
@handles_errors
def what_if_command(
    crawl_min_improvement: Annotated[
        str | None,
        typer.Option(
            "--crawl-min-improvement",
            metavar="PCT",
            help="Crawl passes when every pilot improved by at least this many percent (0 to 1000). "
            "Default: each charter's.",
            show_default=False,
        ),
    ] = None,
    walk_min_adoption: Annotated[
        str | None,
        typer.Option(
            "--walk-min-adoption",
            metavar="PCT",
            help="Walk passes when at least this share (percent, 0 to 100) of invited customers adopted. "
            "Default: each charter's.",
            show_default=False,
        ),
    ] = None,
    quorum: Annotated[
        str | None,
        typer.Option(
            "--quorum",
            metavar="RULE",
            help="How many reviewers must agree, at every gate: any, majority, all, one-per-side or N of M "
            "(e.g. '2 of 3'). Default: each gate's own.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="Judge only reviews decided on or after this day (YYYY-MM-DD, UTC); earlier ones keep "
            "their outcome in both funnels.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Judge every recorded gate again under other rules.

    Which recommendations and decisions would flip, and the portfolio funnel under the
    recorded rules and under these. Reads the store only: nothing running changes."""
    rule_set, since_day = parse_options(crawl_min_improvement, walk_min_adoption, quorum, since)

    from partnerships.adapters.store import Store, make_engine
    from partnerships.service.what_if import judge_store

    report = judge_store(Store(make_engine(Settings().store_url)), rule_set, since_day)
    if as_json:
        sys.stdout.write(json.dumps(report_json(report), indent=2) + "\n")
        return
    print_report(report)


# ------------------------------------------------------------------------------ input


def parse_options(
    crawl: str | None, walk: str | None, quorum: str | None, since: str | None
) -> tuple[RuleSet, date | None]:
    """The rule set and the day, or `UserError` with one line per problem, naming its option."""
    from partnerships.domain.quorum import Quorum
    from partnerships.domain.what_if import RuleSet

    problems: list[str] = []

    def percent(option: str, text: str | None) -> float | None:
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            problems.append(f"{option}: {text!r} is not a number of percent")
            return None
        return value

    rule_set = RuleSet(
        crawl_min_improvement_pct=percent(OPTIONS["crawl_min_improvement_pct"], crawl),
        walk_min_adoption_pct=percent(OPTIONS["walk_min_adoption_pct"], walk),
        quorum=quorum,
    )
    problems += [f"{OPTIONS[name]}: {problem}" for name, problem in rule_set.problems()]
    since_day = None
    if since is not None:
        try:
            if not _DATE.match(since.strip()):
                raise ValueError(since)
            since_day = date.fromisoformat(since.strip())
        except ValueError:
            problems.append(f"--since: {since!r} is not a date; write it as YYYY-MM-DD (UTC)")
    if problems:
        raise UserError(problems)
    if quorum is not None:
        rule_set = replace(rule_set, quorum=str(Quorum.parse(quorum)))
    return rule_set, since_day


# ----------------------------------------------------------------------------- output


def describe_rules(rule_set: RuleSet) -> str:
    crawl, walk = rule_set.crawl_min_improvement_pct, rule_set.walk_min_adoption_pct
    return " · ".join(
        [
            f"Crawl ≥ {crawl:g} %" if crawl is not None else "Crawl as each charter says",
            f"Walk ≥ {walk:g} %" if walk is not None else "Walk as each charter says",
            f"quorum {rule_set.quorum} at every gate" if rule_set.quorum else "each gate's own quorum",
        ]
    )


def _summary(report: WhatIfReport) -> str:
    result = report.result
    since = f" decided since {report.since.isoformat()}" if report.since else ""
    text = f"{len(result.judgements)} decided gate review(s){since} judged again: {len(result.flips)} would flip."
    if report.skipped:
        text += f" {report.skipped} skipped: written by an older release, with no full review on record to judge again."
    return text


def print_report(report: WhatIfReport) -> None:
    result = report.result
    for number, line in enumerate(_wrapped(f"What if: {describe_rules(result.rule_set)}", indent="")):
        out.print(f"[bold]{escape(line)}[/bold]" if number == 0 else escape(line))
    out.print(f"[green]{NOTHING_CHANGES}[/green]")
    for line in _wrapped(_summary(report), indent=""):
        out.print(escape(line))
    if result.flips:
        out.print()
        if out.width >= WIDE_ENOUGH_FOR_TABLES:
            _flips_table(report)
        else:
            _flips_lines(report)
    misfits: dict[str, list[Judgement]] = {}
    for judged in result.judgements:
        if judged.misfit:
            misfits.setdefault(judged.misfit, []).append(judged)
    for misfit, judged_ones in misfits.items():
        slugs = ", ".join(dict.fromkeys(report.slug(j.partnership_id) for j in judged_ones))
        note = f"{len(judged_ones)} review(s) kept their recorded quorum ({slugs}): {misfit}"
        for line in _wrapped(note, indent=""):
            out.print(f"[dim]{escape(line)}[/dim]")
    out.print()
    _funnel_table(result.recorded_funnel, result.funnel)


def _changed(before: str, after: str) -> str:
    return escape(after) if before == after else f"[bold yellow]{escape(after)}[/bold yellow]"


def _decision(verdict: Verdict) -> str:
    return verdict.describe()


def _why(judged: Judgement) -> str:
    return "; ".join([*judged.why, *judged.notes])


def _flips_table(report: WhatIfReport) -> None:
    table = Table(title="Would flip", title_justify="left", show_lines=True)
    table.add_column("partnership", no_wrap=True, overflow="ignore")
    table.add_column("review", ratio=2)
    table.add_column("decided", no_wrap=True)
    table.add_column("recorded", ratio=2)
    table.add_column("what-if", ratio=2)
    table.add_column("why", ratio=5)
    for judged in report.result.flips:
        rec_before, rec_after = judged.recorded_recommendation.value, judged.recommendation.value
        before, after = _decision(judged.recorded), _decision(judged.decision)
        table.add_row(
            escape(report.slug(judged.partnership_id)),
            escape(judged.label),
            f"{judged.decided_at:%Y-%m-%d}",
            f"rec {escape(rec_before)}\n{escape(before)}",
            f"rec {_changed(rec_before, rec_after)}\n{_changed(before, after)}",
            escape(_why(judged)),
        )
    out.print(table)


def _flips_lines(report: WhatIfReport) -> None:
    """Narrow terminals: each flip on its own lines, the slug never cut."""
    out.print("[bold]Would flip[/bold]")
    for judged in report.result.flips:
        out.print(
            f"[bold]{escape(report.slug(judged.partnership_id))}[/bold] · {escape(judged.label)} · "
            f"decided {judged.decided_at:%Y-%m-%d}",
            overflow="ignore",
            crop=False,
        )
        rec_before, rec_after = judged.recorded_recommendation.value, judged.recommendation.value
        before, after = _decision(judged.recorded), _decision(judged.decision)
        for label, was, now in (("recommendation", rec_before, rec_after), ("decision", before, after)):
            arrow = "→" if was != now else "="
            lines = _wrapped(f"{label}: {was} {arrow} {now}")
            out.print(
                "\n".join(
                    f"[bold yellow]{escape(line)}[/bold yellow]" if was != now else escape(line) for line in lines
                )
            )
        for line in _wrapped(f"why: {_why(judged)}"):
            out.print(f"[dim]{escape(line)}[/dim]")


def _wrapped(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(
        text, width=out.width, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    )


def _funnel_table(recorded: list[FunnelStage], under: list[FunnelStage]) -> None:
    table = Table(title="Portfolio funnel: recorded → what-if", title_justify="left")
    for column in ("stage", "entered", "passed", "overrides", "passes / attempts", "by policy"):
        table.add_column(column, no_wrap=True)
    for was, now in zip(recorded, under, strict=True):

        def pair(before: Any, after: Any) -> str:
            shown = f"{before} → {after}"
            return shown if before == after else f"[bold yellow]{shown}[/bold yellow]"

        passed = "—" if was.passed is None else pair(was.passed, now.passed)
        overrides = "—" if was.passed is None else pair(was.overrides, now.overrides)
        table.add_row(
            STAGE_NAMES.get(was.gate, was.gate),
            pair(was.entered, now.entered),
            passed,
            overrides,
            pair(
                f"{was.attempts.passes}/{was.attempts.attempts}",
                f"{now.attempts.passes}/{now.attempts.attempts}",
            ),
            pair(was.attempts.by_policy, now.attempts.by_policy),
        )
    out.print(table)


# ------------------------------------------------------------------------------- JSON


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "outcome": verdict.outcome.value,
        "decided_by": verdict.by.value,
        "names": verdict.names,
        "by_policy": verdict.by_policy,
        "override": verdict.override,
        "needs_written_reason": verdict.needs_reason,
        "describe": verdict.describe(),
    }


def _stage_json(stage: FunnelStage) -> dict[str, Any]:
    return {
        "stage": stage.gate,
        "entered": stage.entered,
        "passed": stage.passed,
        "overrides": stage.overrides,
        "attempts": stage.attempts.attempts,
        "passes": stage.attempts.passes,
        "by_policy": stage.attempts.by_policy,
        "open": stage.attempts.open,
    }


def judgement_json(report: WhatIfReport, judged: Judgement) -> dict[str, Any]:
    return {
        "partnership_id": judged.partnership_id,
        "slug": report.slug(judged.partnership_id),
        "review_id": judged.review_id,
        "gate": judged.gate.value,
        "label": judged.label,
        "decided_at": judged.decided_at.isoformat(),
        "recorded": {
            "recommendation": judged.recorded_recommendation.value,
            "quorum": judged.recorded_quorum,
            **_verdict_json(judged.recorded),
        },
        "what_if": {
            "recommendation": judged.recommendation.value,
            "quorum": judged.quorum,
            **_verdict_json(judged.decision),
        },
        "flips": {
            "recommendation": judged.recommendation_flips,
            "decision": judged.decision_flips,
            "becomes_override": judged.becomes_override,
        },
        "why": judged.why,
        "notes": judged.notes,
    }


def report_json(report: WhatIfReport) -> dict[str, Any]:
    result = report.result
    rules = result.rule_set
    return {
        "note": NOTHING_CHANGES,
        "rules": {
            "crawl_min_improvement_pct": rules.crawl_min_improvement_pct,
            "walk_min_adoption_pct": rules.walk_min_adoption_pct,
            "quorum": rules.quorum,
        },
        "since": report.since.isoformat() if report.since else None,
        "judged": len(result.judgements),
        "skipped": report.skipped,
        "flips": [judgement_json(report, j) for j in result.flips],
        "notes": [judgement_json(report, j) for j in result.judgements if j.notes and not j.flips],
        "funnel": {
            "recorded": [_stage_json(s) for s in result.recorded_funnel],
            "what_if": [_stage_json(s) for s in result.funnel],
        },
    }
