"""Scenario profiles: the behaviour each example business's simulated systems show.

A profile is declared once here; the generator reads every id (processes, touchpoints,
automations, features, seats, goals) from the scenario's strategy file, so the simulated
events always reference the strategy's real entities. The planted truths:

- ``bakery``: the oven automation's runs succeed, baking is almost fully automated, but it
  bakes far more than customers order (sell-through about 0.55, falling over the period:
  waste up), so alignment is low.
- ``ecommerce``: fulfilment fast and automated; on ``start + days // 2`` the support bot is
  reconfigured and, from then on, customers who ask for a human on the support chat mostly
  never reach one (human reachability from about 0.95 to about 0.3).
- ``retail``: the inventory system's licensed features are mostly unused, few of its seats
  are active, and most eligible cases are still done by hand.
- ``control``: a healthy business on which no pitfall fires.
- ``refunds``: the control bookshop with a refund bot that declines the south region's
  readers twice as often as the others' (favourable rate about 0.6 against 0.8: a parity
  ratio about 0.75, below the four-fifths floor).

Each scenario also has its own control, the same business without the planted change
(``Profile.without_change``, ``simulate(..., planted=False)``): the alerting proofs run
both and expect the planted change to page or ticket, and the control to page nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["PROFILES", "Profile", "SCENARIOS"]


@dataclass(frozen=True)
class Profile:
    """Behaviour parameters of one scenario (probabilities and ratios in 0..1)."""

    name: str
    run_success: float = 0.97
    manual_intervention: float = 0.05
    automated_share: float = 0.85  # process executions done by automation
    rework: float = 0.03
    error_rate: float = 0.02
    cycle_speedup: float = 0.6  # automated cycle time ÷ manual cycle time
    sell_through_start: float = 0.95  # units ordered ÷ units produced, at the start ...
    sell_through_end: float = 0.95  # ... and at the end of the period
    features_used: float = 0.9  # share of each automation's licensed features used
    active_seats: float = 0.85  # share of each automation's seats used
    handled_by_automation: float = 0.7  # touchpoints handled by automation, when covered
    resolved: float = 0.88
    escalation_requested: float = 0.12
    reachability: float = 0.96  # escalations that reach a human
    reachability_after_change: float | None = None  # from the change day on, on affected touchpoints
    csat_mean: float = 4.3
    repeat_purchase: float = 0.45
    roi_realisation: float = 1.0  # realised ÷ projected ROI
    integration_issue_weight: float = 0.15
    augmented: float = 0.75
    decision_bias: float = 1.0  # how many times as often decisions decline the disfavoured segment
    peak_hours: tuple[int, ...] = (9, 10, 11, 12, 13, 14, 15, 16, 17)
    weekend_factor: float = 0.6
    planted: tuple[str, ...] = ()  # the fields that make the scenario's planted change

    def without_change(self) -> Profile:
        """The same business without its planted change (its control): every planted field
        back to the healthy default."""
        healthy = Profile(name=self.name)
        return replace(self, **{name: getattr(healthy, name) for name in self.planted}, planted=())


PROFILES: dict[str, Profile] = {
    "bakery": Profile(
        name="bakery",
        run_success=0.985,
        automated_share=0.95,
        sell_through_start=0.65,
        sell_through_end=0.45,
        planted=("sell_through_start", "sell_through_end"),
        csat_mean=3.7,
        peak_hours=(5, 6, 7, 8, 9, 12, 16, 17),
        weekend_factor=1.3,
    ),
    "ecommerce": Profile(
        name="ecommerce",
        automated_share=0.93,
        cycle_speedup=0.35,
        handled_by_automation=0.8,
        escalation_requested=0.2,
        reachability=0.95,
        reachability_after_change=0.3,
        planted=("reachability_after_change",),
        peak_hours=(10, 11, 12, 19, 20, 21, 22),
        weekend_factor=1.1,
    ),
    "retail": Profile(
        name="retail",
        automated_share=0.3,
        features_used=0.25,
        active_seats=0.3,
        planted=("features_used", "active_seats", "automated_share"),
        cycle_speedup=0.85,
        weekend_factor=1.2,
    ),
    "control": Profile(name="control"),
    "refunds": Profile(name="refunds", decision_bias=2.0, planted=("decision_bias",)),
}

SCENARIOS: tuple[str, ...] = tuple(PROFILES)
