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
* :mod:`.render` — every Finesse XML document, one function each (the Dialog and the ``<Update>`` wrapper,
  written on every call-data change, as text through :mod:`.xml_text`); :mod:`.notifier` publishes them
  through the :class:`~fingress.emulator.hub.Hub` on every side in service.
* :mod:`.server` — :class:`~fingress.emulator.server.EmulatorServer`, the composition root;
  :mod:`.command` — ``fingress emulator``.

Emulator assumptions where Finesse's behaviour is not publicly settled (all documented where implemented):

* Devices of a shared-line extension: ``GET /finesse/api/User/{id}/Devices?extension=N``; signing in to a
  multi-device extension without ``activeDeviceId`` gives the asynchronous ``Invalid Device`` of the capture.
* Asynchronous errors of dialog actions (``Call Operation Failure``, ``Device Busy``) are published on the
  agent's ``/finesse/api/User/{id}/Dialogs`` node; user errors on ``/finesse/api/User/{id}``.
* A dialog PUT is published for SEND_DTMF and UPDATE_CALL_DATA (so a client can confirm them).
* MAKE_CALL: the dialog is ``INITIATING`` (the caller's participant too), ``INITIATED`` after
  ``timing.make_call_initiated_delay_s``, then the far end rings (dialog ``ALERTING``, caller still
  ``INITIATED``) after ``timing.make_call_alerting_delay_s``, and both are ``ACTIVE`` once it answers; one
  notification per step, only the first echoing the requestId. While dialing the caller is offered only
  DROP and counts as TALKING. An outside number answers after ``timing.outside_answer_delay_s`` (or, with
  ``behaviour.outside_party_answers = false``, only through ``/emulator/calls/{id}/answer``); a callee who
  became busy before it rings gives ``Device Busy`` and ends the dialog.
* Outside numbers of consult calls and single-step transfers answer at once; an agent's extension rings
  (ALERTING) until answered or ``timing.ring_timeout_s`` (routed calls then make the agent NOT_READY
  with 32767).
* Wrap-up: REQUIRED and OPTIONAL both enter WORK / WORK_READY after an answered call; with
  REQUIRED_WITH_WRAP_UP_DATA a READY / NOT_READY request in wrap-up without a wrap-up reason on the
  dialog is refused with the asynchronous ``Invalid State`` / ``CF_WRAPUP_DATA_REQUIRED`` /
  ``WRAP_UP_DATA_REQUIRED`` (the shape is ours: no capture), while the wrap-up timer and system-forced
  changes still move the agent on; NOT_ALLOWED means no wrap-up state at all.
* Webapp down (``/emulator/sides/{A|B}/webapp/down`` and ``/up``): only the ``finesse`` user's presence
  tells, ``<presence from="finesse@<domain>/finesse" to="<full JID>" type="unavailable"/>`` to every
  available session of that side (and without ``type`` when it is back, and to each new session after its
  initial presence while it is up). The resource ``finesse`` is our choice. While its webapp is down a
  side forces no logout on presence loss and its agents lose their mobile-agent details (they must move);
  REST, SystemInfo and the XMPP sessions of that side keep working.
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

Not modelled: CTI failover (Finesse's silent 120–150 s and republish); a webapp that is down refusing
REST; OPTIONAL wrap-up letting the agent skip wrap-up; outside parties that are busy or never answer
(other than hanging up through the control API); team nodes, supervisor team views and queue
statistics; BOSH; outbound campaigns (RESERVED_OUTBOUND*).
"""
