"""The connector's Prometheus metrics, in a registry of their own (no global registry).

One :class:`ConnectorMetrics` per connector process is built in the composition root and passed to the
session manager, the sessions and the Finesse clients (as their ``CallObserver``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from connector.finesse.observer import FinesseCall

SESSION_STATES = ("signing_in", "active", "link_down", "ended")
# What a configuration reload did (connector.runtime.ReloadOutcome.outcome).
RELOAD_OUTCOMES = ("applied", "unchanged", "refused", "invalid")


class ConnectorMetrics:
    """Counters and gauges the admin listener serves on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.sessions = Gauge(
            "fingress_connector_sessions", "Agent sessions by state", ["state"], registry=self.registry
        )
        for state in SESSION_STATES:
            self.sessions.labels(state=state).set(0)
        self.xmpp_reconnects = Counter(
            "fingress_connector_xmpp_reconnects", "XMPP links re-established", registry=self.registry
        )
        self.failovers = Counter(
            "fingress_connector_failovers",
            "Agent sessions moved to the other Finesse side",
            ["to_side"],
            registry=self.registry,
        )
        self.events_published = Counter(
            "fingress_connector_events_published", "Events published", ["type"], registry=self.registry
        )
        # One child per event type, looked up once: labels() takes a lock and builds a key on every call,
        # and event_published runs for every event of every agent.
        self._events_published_by_type: dict[str, Counter] = {}
        self.finesse_latency = Histogram(
            "fingress_connector_finesse_request_seconds",
            "Finesse REST request latency",
            ["operation"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.finesse_errors = Counter(
            "fingress_connector_finesse_errors",
            "Finesse REST errors by stable code",
            ["code"],
            registry=self.registry,
        )
        self.actions = Counter(
            "fingress_connector_actions",
            # "reattached": a sign-in that found the agent signed in as asked and sent nothing to Finesse.
            "Agent actions by outcome (confirmed, rejected, pending, failed, reattached)",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "fingress_connector_config_reloads",
            "Configuration reloads by outcome (applied, unchanged, refused, invalid)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in RELOAD_OUTCOMES:
            self.reloads.labels(outcome=outcome)

    def reload_finished(self, outcome: str) -> None:
        """A reload ended with ``outcome`` (one of :data:`RELOAD_OUTCOMES`)."""
        self.reloads.labels(outcome=outcome).inc()

    def session_moved(self, old: str | None, new: str | None) -> None:
        """A session changed state (``None``: it did not exist / no longer exists)."""
        if old is not None:
            self.sessions.labels(state=old).dec()
        if new is not None:
            self.sessions.labels(state=new).inc()

    def event_published(self, type_: str) -> None:
        counter = self._events_published_by_type.get(type_)
        if counter is None:
            counter = self._events_published_by_type[type_] = self.events_published.labels(type=type_)
        counter.inc()

    def call_finished(self, call: FinesseCall) -> None:
        """``CallObserver`` for the Finesse REST clients."""
        self.finesse_latency.labels(operation=call.operation).observe(call.duration_s)
        if call.error_code is not None:
            self.finesse_errors.labels(code=call.error_code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
