"""``fingress demo``: the whole system in one process, on loopback, for trying fingress out.

What runs (every listener on the base port N, N+1, …; see :class:`~fingress.demo.ports.DemoPorts`): the edge
(public, admin and tunnel listeners), the Finesse emulator (sides A and B with sample agents), a connector
dialling the edge through the mutual-TLS tunnel and reaching the emulator over REST and XMPP over WebSocket
exactly as it would reach Finesse, and the development OIDC provider that issues agent
tokens. The first run creates a development PKI and the provider's keys in the data directory; every run
writes the edge, policy and connector files it uses there (so they can be read and reused) and
``demo.json``, which describes the running system for scripts and tests.

* :mod:`~fingress.demo.ports` — the port layout and the free-port check.
* :mod:`~fingress.demo.files` — the configuration files the demo writes.
* :mod:`~fingress.demo.system` — :class:`~fingress.demo.system.DemoSystem`, the composition.
* :mod:`~fingress.demo.walkthrough` — the copy-paste walkthrough printed at start.
* :mod:`~fingress.demo.command` — the ``fingress demo`` command.
"""
