"""Agent sessions: one Finesse session (REST credential + XMPP notification link) per signed-in agent.

The model, from the inside out:

* :mod:`~connector.sessions.mirror` (sans-I/O) keeps what Finesse last told us about the agent and turns
  each notification into public event drafts;
* :mod:`~connector.sessions.eventlog` numbers those events (from a per-session origin, so numbers are
  never reused across sessions), keeps a bounded replay buffer and fans them out to the agent's
  subscribers (its open event sockets, through the tunnel);
* :mod:`~connector.sessions.pending` matches notifications to the requests waiting for them, so an action
  answers with the confirmed result;
* :mod:`~connector.sessions.session` is the one agent's session: sign-in, reads and actions with confirmed
  results (:mod:`~connector.sessions.matching` says which notification settles which action), and the
  notifications it applies; three parts plug into it:

  - :mod:`~connector.sessions.supervision` keeps its notification link up (reconnect with backoff and
    jitter, link alerts);
  - :mod:`~connector.sessions.grace` applies the presence-grace policy when the app has been gone too long;
  - :mod:`~connector.sessions.failover` moves it to the other Finesse side and repairs the stale forced
    logout the old side may send (:mod:`~connector.sessions.logouts` tells the kinds of logout apart);
  - :mod:`~connector.sessions.reattach` says when a sign-in finds the agent already signed in exactly
    as asked (a restarted connector): the session then reads the agent and its calls, and sends no sign-in;
* :mod:`~connector.sessions.manager` routes the tunnel's requests to sessions (the ``TunnelService``).
"""
