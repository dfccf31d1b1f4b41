"""The LAN tier: dials out to the edge and holds one Finesse session (REST + XMPP) per signed-in agent."""
