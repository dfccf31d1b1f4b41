"""A stand-in for a Cisco Finesse cluster (sides A and B sharing one CTI state), faithful enough that the
connector developed against it works against a real one. See ``../shared/FINESSE.md`` for the model.

How it fits together::

    REST (rest.py, bodies.py, credentials.py) ─┐                         ┌─> Hub ─> XMPP sessions (xmpp/)
    control API (control.py) ──────────────────┼─> Cluster (cluster.py) ─┤      (per side, per agent)
    XMPP servers (xmpp/, via ClusterPort) ─────┘   validates, defers     └─ Notifier (notifier.py)
                                                   └─> Cti (cti.py): agent states, calls    render.py

* :mod:`.config` — the TOML configuration (sample: ``config/emulator.toml``, shipped as ``emulator.toml``).
* :mod:`.cluster` — sides, per-side presence timers, account lock (:mod:`.accounts`), and the request
  façade: synchronous validation raises ``<ApiErrors>``-shaped errors, accepted work runs after
  ``timing.async_processing_delay_s`` (202-then-notify).
* :mod:`.cti` — the shared CTI state machine (no I/O; time from :mod:`.timers`, so tests use a manual clock).
* :mod:`.render` — every Finesse XML document, one function each; :mod:`.notifier` publishes them through
  the :class:`~fingress.emulator.hub.Hub` on every side in service.
* :mod:`.server` — :class:`~fingress.emulator.server.EmulatorServer`, the composition root;
  :mod:`.command` — ``fingress emulator``.

Emulator assumptions where Finesse's behaviour is not publicly settled (all documented where implemented):

* Devices of a shared-line extension: ``GET /finesse/api/User/{id}/Devices?extension=N``; signing in to a
  multi-device extension without ``activeDeviceId`` gives the asynchronous ``Invalid Device`` of the capture.
* Asynchronous errors of dialog actions (``Call Operation Failure``, ``Device Busy``) are published on the
  agent's ``/finesse/api/User/{id}/Dialogs`` node; user errors on ``/finesse/api/User/{id}``.
* A dialog PUT is published for SEND_DTMF and UPDATE_CALL_DATA (so a client can confirm them).
* Outside numbers answer at once; an agent's extension rings (ALERTING) until answered or
  ``timing.ring_timeout_s`` (routed calls then make the agent NOT_READY with 32767).
* The nailed-connection setup call is a dialog (``callType`` AGENT_INSIDE) the agent answers like a call;
  once answered it disappears and the connection stays up until ``/emulator/agents/{id}/nailed/hangup``.
* After a transfer the transferring agent stays on the dialog in ``WRAP_UP`` until its wrap-up ends;
  only that agent sees its wrap-up participant.
* Bad credentials: Finesse's HTML page (configurable) or ``<ApiErrors>``; a locked account always gets
  ``<ApiErrors>`` with ErrorData ``ACCOUNT_LOCKED`` so clients can tell the two apart.
* 503 answers carry ErrorType ``Service Unavailable`` and ErrorMessage ``SERVER_OUT_OF_SERVICE``;
  SystemInfo keeps answering (with ``OUT_OF_SERVICE``) while its side is down.
* Bearer tokens: any JWT the configured HMAC key or JWKS verifies (``exp`` required; ``iss`` / ``aud`` when
  configured), the agent id read from ``bearer.agent_id_claim``.
"""
