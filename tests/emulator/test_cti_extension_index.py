"""The CTI's index of signed-in agents by extension (``Cti.agent_on_extension`` is a lookup, not a scan of
every agent): one agent per extension, and the index follows every sign-in, sign-out and forced logout."""

from __future__ import annotations

import pytest

from fingress.emulator.model import Agent
from tests.emulator.support import Harness, fast_config


@pytest.fixture
def lab() -> Harness:
    return Harness(fast_config(behaviour={"logout_only_from_not_ready": False}))


def scan(lab: Harness, extension: str) -> Agent | None:
    """What the index must answer: the signed-in agent on ``extension``, by looking at every agent."""
    holders = [a for a in lab.cluster.cti.agents.values() if a.signed_in and a.extension == extension]
    assert len(holders) <= 1, f"{extension} held by {[a.id for a in holders]}"
    return holders[0] if holders else None


def test_two_agents_cannot_hold_one_extension(lab: Harness) -> None:
    cti = lab.cluster.cti
    second = lab.watch("1005")
    lab.sign_in("1001", "1001001")
    lab.sign_in("1005", "1001001")
    assert second.errors()[-1].text("data/apiErrors/apiError/errorType") == "Device Busy"
    assert lab.agent("1005").state == "LOGOUT"
    assert cti.agent_on_extension("1001001") is lab.agent("1001")
    assert scan(lab, "1001001") is lab.agent("1001")


def test_the_index_follows_sign_out_and_sign_in(lab: Harness) -> None:
    cti = lab.cluster.cti
    lab.sign_in("1001", "1001001")
    lab.logout("1001")
    assert cti.agent_on_extension("1001001") is None
    # The extension is free again: another agent takes it, the first one signs in elsewhere.
    lab.sign_in("1005", "1001001")
    lab.sign_in("1001", "1005001")
    assert cti.agent_on_extension("1001001") is lab.agent("1005")
    assert cti.agent_on_extension("1005001") is lab.agent("1001")
    # Signing in again on the same extension keeps the agent's entry (and its state).
    lab.sign_in("1005", "1001001")
    assert cti.agent_on_extension("1001001") is lab.agent("1005")
    for extension in ("1001001", "1005001", ""):
        assert cti.agent_on_extension(extension) is scan(lab, extension)


def test_a_forced_logout_frees_the_extension() -> None:
    """Presence lost for longer than Finesse waits: the system signs the agent out, and with it goes the
    agent's entry (a call to the extension no longer finds it)."""
    lab = Harness(fast_config(behaviour={"forced_logout_load": "logout"}))
    cti = lab.cluster.cti
    lab.sign_in("1001", "1001001")
    lab.cluster.presence_changed("A", "1001", True)
    lab.cluster.presence_changed("A", "1001", False)
    lab.advance(lab.cluster.timing.presence_logout_delay_s + 1)
    assert lab.agent("1001").state == "LOGOUT"
    assert cti.agent_on_extension("1001001") is None
    lab.sign_in("1002", "1001001")
    assert cti.agent_on_extension("1001001") is lab.agent("1002")


def test_a_refused_second_extension_leaves_the_entry_alone(lab: Harness) -> None:
    """A signed-in agent asking for another extension is refused (Invalid State); its entry stays."""
    cti = lab.cluster.cti
    session = lab.watch("1001")
    lab.sign_in("1001", "1001001")
    lab.sign_in("1001", "1002001")
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Invalid State"
    assert cti.agent_on_extension("1001001") is lab.agent("1001")
    assert cti.agent_on_extension("1002001") is None


def test_a_reset_empties_the_index(lab: Harness) -> None:
    lab.sign_in("1001", "1001001")
    lab.cluster.reset()
    assert lab.cluster.cti.agent_on_extension("1001001") is None
    lab.sign_in("1005", "1001001")
    assert lab.cluster.cti.agent_on_extension("1001001") is lab.agent("1005")
