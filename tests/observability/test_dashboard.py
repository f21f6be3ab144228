"""The Grafana dashboard in the repository queries exactly the series Zhiku defines."""

from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY, CollectorRegistry

from core import metrics
from tests.support import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "zhiku-dashboard.json"
_SERIES = re.compile(r"\bzhiku_[a-z0-9_]+")
# What each kind of series exposes beside its family name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _defined() -> dict[str, str]:
    """Every name a query may use → its family, from the registry itself."""
    queues = CollectorRegistry()
    queues.register(metrics.QueueDepthCollector(lambda: {}))
    queues.register(metrics.AnswerLoadCollector(lambda: []))
    names: dict[str, str] = {}
    for registry in (REGISTRY, queues):
        for family in registry.collect():
            if not family.name.startswith("zhiku_"):
                continue
            names[family.name] = family.name
            for suffix in _SUFFIXES[family.type]:
                names[family.name + suffix] = family.name
    return names


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_every_series_the_dashboard_queries_exists() -> None:
    # The layers that define series register them on import.
    import llm.client  # noqa: F401
    import retrieval.search  # noqa: F401
    import workers.embed_stage  # noqa: F401

    defined = _defined()
    used = {name for expr in _expressions() for name in _SERIES.findall(expr)}
    assert used, "the dashboard queries nothing"
    assert used <= set(defined), sorted(used - set(defined))
    # ...and every family Zhiku defines has a panel.
    assert {defined[name] for name in used} == set(defined.values())


def test_panels_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            # Only a route template or a bounded label may be grouped on, never an id.
            for group in re.findall(r"by \(([^)]*)\)", target["expr"]):
                labels = {label.strip() for label in group.split(",")}
                assert labels <= {
                    "le",
                    "route",
                    "status",
                    "stage",
                    "outcome",
                    "queue",
                    "source",
                    "backend",
                    "kind",
                    "call",
                    "mode",
                    "state",
                }, labels


def _labels_of_each_family() -> dict[str, set[str]]:
    """Each family's own label names (``le`` for a histogram's buckets), from the series
    objects ``core.metrics`` defines and the scrape-time collectors'."""
    from prometheus_client.metrics import MetricWrapperBase

    labels: dict[str, set[str]] = {
        metrics.QUEUE_DEPTH_NAME: {"queue", "source"},
        metrics.ANSWERS_IN_FLIGHT_NAME: {"backend", "state"},
        metrics.ANSWER_CAPACITY_NAME: {"backend", "kind"},
    }
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            extra = {"le"} if value._type == "histogram" else set()
            labels[value._name] = set(value._labelnames) | extra
    return labels


def test_every_label_a_query_groups_or_filters_on_is_one_its_series_has() -> None:
    """``sum by (route)`` over a series without ``route`` draws one unlabelled line, and
    ``{status=~"5.."}`` on one without ``status`` draws nothing: neither is an error in
    Prometheus, so a renamed label would leave the panel silently wrong."""
    defined, labels = _defined(), _labels_of_each_family()
    assert set(defined.values()) <= set(labels), sorted(set(defined.values()) - set(labels))
    for expr in _expressions():
        families = {defined[name] for name in _SERIES.findall(expr)}
        allowed = set.union(*(labels[family] for family in families))
        grouped = {
            label.strip()
            for group in re.findall(r"\b(?:by|without) \(([^)]*)\)", expr)
            for label in group.split(",")
        }
        matched = {
            label
            for selector in re.findall(r"\{([^}]*)\}", expr)
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", selector)
        }
        assert grouped | matched <= allowed, (expr, sorted((grouped | matched) - allowed))
