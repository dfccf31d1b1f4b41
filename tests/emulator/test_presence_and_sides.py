"""Presence-driven forced logout per side (with both LOAD settings and the stale-logout race), sides
going out of service and back, and the account lock — on the cluster model with a manual clock."""

from __future__ import annotations

import pytest

from fingress.emulator.commands import MobileAgentRequest, UserUpdate
from tests.emulator.support import Harness, fast_config


@pytest.fixture
def lab() -> Harness:
    return Harness()


def test_presence_loss_makes_the_agent_not_ready_with_255_after_the_delay(lab: Harness) -> None:
    session = lab.watch("1001")
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", True)
    lab.cluster.presence_changed("A", "1001", False)
    lab.advance(59.9)
    assert lab.agent("1001").state == "READY"
    lab.advance(0.1)
    user = session.users()[-1]
    assert user.text("data/user/state") == "NOT_READY"
    assert user.text("data/user/ReasonCode/code") == "255"
    assert user.request_id == ""
    [change] = lab.cluster.cti.forced_changes
    assert (change.agent_id, change.side, change.state, change.reason_code) == ("1001", "A", "NOT_READY", 255)


def test_load_logout_signs_the_agent_out_with_255() -> None:
    lab = Harness(fast_config(behaviour={"forced_logout_load": "logout"}))
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", False)
    lab.advance(60)
    agent = lab.agent("1001")
    assert agent.state == "LOGOUT"
    assert agent.reason is not None
    assert (agent.reason.category, agent.reason.code) == ("LOGOUT", 255)


def test_coming_back_in_time_cancels_the_forced_logout(lab: Harness) -> None:
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", False)
    lab.advance(30)
    lab.cluster.presence_changed("A", "1001", True)
    lab.advance(120)
    assert lab.agent("1001").state == "READY"
    assert lab.cluster.cti.forced_changes == []


def test_agents_not_signed_in_are_not_timed(lab: Harness) -> None:
    lab.cluster.presence_changed("A", "1001", False)
    assert lab.scheduler.pending == 0


def test_the_old_side_force_logs_out_an_agent_who_moved(lab: Harness) -> None:
    """The documented race: presence is tracked per side, so side A still signs the agent out although
    the agent now works through side B."""
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", True)
    lab.cluster.presence_changed("B", "1001", True)  # the client moved to side B
    lab.cluster.presence_changed("A", "1001", False)  # …and its old session on A went away
    lab.advance(60)
    assert lab.agent("1001").state == "NOT_READY"
    assert [change.side for change in lab.cluster.cti.forced_changes] == ["A"]
    assert lab.cluster.presence() == {"A": {"1001": False}, "B": {"1001": True}}


def test_a_forced_change_during_a_call_waits_for_the_call(lab: Harness) -> None:
    lab.ready_agent("1003", "1003001")
    call = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(call)
    lab.cluster.presence_changed("A", "1003", False)
    lab.advance(60)
    assert lab.agent("1003").state == "TALKING"
    assert lab.agent("1003").pending_state == "NOT_READY"
    lab.cluster.cti.customer_hangup(call)
    assert lab.agent("1003").state == "NOT_READY"


def test_side_down_cancels_its_timers_publishes_out_of_service_and_drops_sessions(lab: Harness) -> None:
    on_a = lab.watch("1001", "A")
    on_b = lab.watch("1001", "B")
    lab.sign_in("1001", "1001001", mobile_agent=MobileAgentRequest(mode="CALL_BY_CALL", dial_number="0611"))
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", False)
    lab.cluster.set_in_service("A", False)
    system_info = [n for n in on_a.notifications if n.node == "/finesse/api/SystemInfo"]
    assert [n.text("data/SystemInfo/status") for n in system_info] == ["OUT_OF_SERVICE"]
    assert on_a.closed_with == "system-shutdown"
    assert on_b.closed_with is None
    assert not lab.cluster.in_service("A")
    assert not lab.cluster.authenticate("A", "1001", "alice-pass")
    assert lab.cluster.authenticate("B", "1001", "alice-pass")
    # The CTI state keeps the agent; only the mobile-agent details are lost with the node.
    agent = lab.agent("1001")
    assert agent.state == "READY"
    assert agent.mobile_agent is None
    assert on_b.users()[-1].update.find("data/user/mobileAgent") is None
    lab.advance(120)
    assert lab.cluster.cti.forced_changes == []
    # Re-registering as a mobile agent on side B keeps the state.
    lab.sign_in(
        "1001", "1001001", side="B", mobile_agent=MobileAgentRequest(mode="CALL_BY_CALL", dial_number="0611")
    )
    assert agent.state == "READY"
    assert agent.mobile_agent is not None
    assert agent.signed_in_side == "B"


def test_webapp_down_is_the_finesse_users_presence_on_that_side_and_nothing_else(lab: Harness) -> None:
    on_a = lab.watch("1001", "A")
    on_b = lab.watch("1001", "B")
    lab.sign_in("1001", "1001001", mobile_agent=MobileAgentRequest(mode="CALL_BY_CALL", dial_number="0611"))
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", True)
    lab.cluster.set_webapp_up("A", False)
    lab.cluster.set_webapp_up("A", False)  # already down: nothing more is sent
    assert on_a.presences == [("finesse@finesse-a.emulator.test/finesse", False)]
    assert on_b.presences == []
    assert not lab.cluster.webapp_up("A")
    assert lab.cluster.webapp_up("B")
    # Side A stays in service, its sessions stay up, SystemInfo says nothing.
    assert lab.cluster.in_service("A")
    assert on_a.closed_with is None
    assert not [n for n in on_a.notifications if n.node == "/finesse/api/SystemInfo"]
    # The agents must move, so their mobile-agent details are lost as on a node switch.
    agent = lab.agent("1001")
    assert agent.state == "READY"
    assert agent.mobile_agent is None
    lab.cluster.set_webapp_up("A", True)
    assert on_a.presences[-1] == ("finesse@finesse-a.emulator.test/finesse", True)


def test_a_side_whose_webapp_is_down_forces_no_logout_on_presence_loss(lab: Harness) -> None:
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", True)
    lab.cluster.presence_changed("A", "1001", False)  # timer started while the webapp was up …
    lab.cluster.set_webapp_up("A", False)  # … and cancelled with it
    lab.cluster.presence_changed("A", "1001", True)
    lab.cluster.presence_changed("A", "1001", False)  # no timer while it is down
    lab.advance(120)
    assert lab.cluster.cti.forced_changes == []
    assert lab.agent("1001").state == "READY"


def test_reset_brings_the_webapp_back(lab: Harness) -> None:
    on_a = lab.watch("1001", "A")
    lab.cluster.set_webapp_up("A", False)
    lab.cluster.reset()
    assert lab.cluster.webapp_up("A")
    assert on_a.presences[-1] == ("finesse@finesse-a.emulator.test/finesse", True)


def test_notifications_go_to_every_side_in_service(lab: Harness) -> None:
    on_a = lab.watch("1001", "A")
    on_b = lab.watch("1001", "B")
    lab.sign_in("1001", "1001001")
    assert on_a.last_state() == on_b.last_state() == "NOT_READY"
    lab.cluster.set_in_service("B", False)
    on_b.clear()
    lab.ready("1001")
    assert on_a.last_state() == "READY"
    assert on_b.notifications == []
    lab.cluster.set_in_service("B", True)
    assert lab.cluster.in_service("B")
    assert "IN_SERVICE" in lab.cluster.system_info_document("B")


def test_presence_reported_on_a_side_out_of_service_starts_no_timer(lab: Harness) -> None:
    lab.sign_in("1001", "1001001")
    lab.cluster.set_in_service("A", False)
    lab.cluster.presence_changed("A", "1001", False)
    assert lab.scheduler.pending == 0


def test_five_bad_passwords_lock_the_account_across_rest_and_xmpp(lab: Harness) -> None:
    cluster = lab.cluster
    assert [cluster.check_password("1001", "wrong") for _ in range(2)] == ["bad", "bad"]
    assert [cluster.authenticate("A", "1001", "wrong") for _ in range(3)] == [False, False, False]
    assert cluster.check_password("1001", "alice-pass") == "locked"
    assert not cluster.authenticate("B", "1001", "alice-pass")
    lab.advance(299)
    assert cluster.check_password("1001", "alice-pass") == "locked"
    lab.advance(1)
    assert cluster.check_password("1001", "alice-pass") == "ok"


def test_a_good_password_resets_the_count_and_unknown_users_lock_nothing(lab: Harness) -> None:
    cluster = lab.cluster
    for _ in range(4):
        cluster.check_password("1001", "wrong")
    assert cluster.check_password("1001", "alice-pass") == "ok"
    for _ in range(4):
        cluster.check_password("1001", "wrong")
    assert cluster.check_password("1001", "alice-pass") == "ok"
    assert all(cluster.check_password("nobody", "x") == "bad" for _ in range(10))


def test_a_nailed_agent_re_registers_on_the_other_side_with_a_new_setup_call(lab: Harness) -> None:
    nailed = MobileAgentRequest(mode="NAILED_CONNECTION", dial_number="0698")
    on_b = lab.watch("1002", "B")
    lab.sign_in("1002", "1002001", mobile_agent=nailed)
    setup = on_b.dialog_events()[-1].text("data/dialogs/Dialog/id")
    assert setup is not None
    lab.cluster.cti.answer_on_phone(setup)
    lab.ready("1002")
    lab.cluster.set_in_service("A", False)
    agent = lab.agent("1002")
    assert agent.mobile_agent is None
    assert not agent.nailed_connected
    lab.sign_in("1002", "1002001", side="B", mobile_agent=nailed)
    second = on_b.dialog_events()[-1]
    assert second.event == "POST"
    assert second.text("data/dialogs/Dialog/id") != setup
    assert agent.state == "READY"


def test_a_shared_line_agent_signs_in_again_without_repeating_the_device(lab: Harness) -> None:
    lab.sign_in("1006", "3000", active_device_id="CSFAGENT1006")
    lab.sign_in("1006", "3000")
    agent = lab.agent("1006")
    assert agent.state == "NOT_READY"
    assert agent.device_id == "CSFAGENT1006"


def test_reset_returns_to_the_configured_start(lab: Harness) -> None:
    session = lab.watch("1001")
    lab.ready_agent("1001", "1001001")
    lab.offer("1001")
    lab.cluster.presence_changed("A", "1001", False)
    lab.cluster.set_in_service("B", False)
    for _ in range(5):
        lab.cluster.check_password("1002", "wrong")
    lab.cluster.update_user(
        "A", lab.cluster.actor("1003"), "1003", UserUpdate(state="LOGIN", extension="1"), ""
    )
    lab.cluster.reset()
    lab.advance(7200)
    assert all(agent.state == "LOGOUT" for agent in lab.cluster.cti.agents.values())
    assert lab.cluster.cti.dialogs == {}
    assert lab.cluster.cti.forced_changes == []
    assert lab.cluster.in_service("B")
    assert lab.cluster.check_password("1002", "bob-pass") == "ok"
    assert lab.scheduler.pending == 0
    assert session.last_state() == "RESERVED"  # nothing published after the reset


def test_ccx_signs_out_on_presence_loss_and_has_no_mobile_agent() -> None:
    config = fast_config()
    config = config.model_copy(
        update={"system": config.system.model_copy(update={"deployment_type": "UCCX"})}
    )
    lab = Harness(config)
    session = lab.watch("1001")
    lab.sign_in("1001", "1001001", mobile_agent=MobileAgentRequest(mode="CALL_BY_CALL", dial_number="0611"))
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Mode Not Allowed"
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.cluster.presence_changed("A", "1001", False)
    lab.advance(60)
    assert lab.agent("1001").state == "LOGOUT"
    assert "<deploymentType>UCCX</deploymentType>" in lab.cluster.system_info_document("A")
