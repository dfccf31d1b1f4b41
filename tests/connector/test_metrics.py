"""The connector's metrics count what they say they count."""

from __future__ import annotations

from connector.ops.metrics import ConnectorMetrics


def test_events_published_are_counted_by_type() -> None:
    metrics = ConnectorMetrics()
    for type_ in ("agent.updated", "dialog.created", "agent.updated"):
        metrics.event_published(type_)
    text = metrics.render().decode()
    assert 'fingress_connector_events_published_total{type="agent.updated"} 2.0' in text
    assert 'fingress_connector_events_published_total{type="dialog.created"} 1.0' in text
