"""``fingress bench``: a load generator that drives simulated agents through the edge's public API.

Each simulated agent does what the mobile app does: gets its own token, signs in, opens its own event
socket, goes READY, receives calls offered through the emulator's control API, answers, wraps up. The
scenarios (:mod:`fingress.bench.scenarios`) measure what the issue asks: event latency and integrity
(``events``), request latency against the same call made directly on the emulator (``requests``), a
connector restart under a sign-in storm (``storm``) and socket flaps inside the presence grace (``flap``).

The figures come from sans-I/O recorders (:mod:`fingress.bench.stats`): a latency sample set and a per-agent
sequence checker fed with every event frame's ``seq``. ``--spawn-demo`` runs the stack itself
(:mod:`fingress.bench.stack`): emulator, edge and connector each in its own process, so resident memory can
be read per tier, and the connector can be killed and restarted.
"""
