"""Agent sessions: one Finesse session (REST credential + XMPP notification link) per signed-in agent.

The model, from the inside out:

* :mod:`~connector.sessions.mirror` (sans-I/O) keeps what Finesse last told us about the agent and turns
  each notification into public event drafts;
* :mod:`~connector.sessions.eventlog` numbers those events, keeps a bounded replay buffer and fans them
  out to the agent's subscribers (its open event sockets, through the tunnel);
* :mod:`~connector.sessions.pending` matches notifications to the requests waiting for them, so an action
  answers with the confirmed result;
* :mod:`~connector.sessions.session` is the one agent's session: sign-in, actions, the notification link
  with reconnect, presence grace, side failover;
* :mod:`~connector.sessions.manager` routes the tunnel's requests to sessions (the ``TunnelService``).
"""
