"""The tools around the tiers: the CLI, the demo composition, the Finesse emulator, the development
OIDC provider and the load generator. Nothing imports this package."""
