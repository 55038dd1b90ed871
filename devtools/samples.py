"""Example evidence shared by the benchmark and the tests: one definition of "a good quarter"."""

from __future__ import annotations

from partnerships.domain.gates import Scorecard
from partnerships.domain.vocabulary import Rag


def sample_scorecard(rag: Rag = Rag.GREEN) -> Scorecard:
    """A quarter with every scorecard figure filled in, rated `rag`."""
    return Scorecard(
        deals_sourced=4,
        pipeline_sourced=250_000,
        revenue_closed=90_000,
        win_rate_pct=35,
        average_deal_size=22_500,
        active_engagements=6,
        certifications_completed=3,
        customer_satisfaction=8.4,
        integration_rate_pct=60,
        time_to_value_days=12,
        rag=rag,
    )
