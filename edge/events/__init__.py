"""The ``/api/v1/events`` WebSocket: authentication by bearer header or one-time ticket, resume with
``?since=``, heartbeats, a per-agent socket cap, and close codes that say why (:mod:`.close_codes`)."""
