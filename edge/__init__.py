"""The DMZ tier: terminates TLS, authenticates agents, rate-limits, and forwards through the tunnel.

The edge holds no Finesse credentials and imports nothing from ``connector``.
"""
