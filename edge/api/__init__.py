"""The public API v1: request models, the route table, forwarding through the tunnel, and the
OpenAPI document generated from both."""
