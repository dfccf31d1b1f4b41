"""The emulator's configuration: the sample cluster (agents, teams, extensions, reason codes, wrap-up
reasons), every timing and the behaviour switches, loaded from TOML.

Typed, immutable and validated at load: unknown keys are errors, and every problem names its key path
(``agents.3.team_id: unknown team 9``) through :class:`edge.tunnel.errors.ConfigError`. Passwords are
``SecretStr`` so they never show in a ``repr`` or a log line.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from edge.tunnel.errors import ConfigError

WrapUpMode = Literal["REQUIRED", "REQUIRED_WITH_WRAP_UP_DATA", "OPTIONAL", "NOT_ALLOWED"]
Role = Literal["Agent", "Supervisor"]
ReasonCategory = Literal["NOT_READY", "LOGOUT"]
ForcedLogoutLoad = Literal["not_ready", "logout"]

# System reason codes the emulator applies on its own; the configuration must define each of them (marked
# ``system = true``) in the category it is used with, so users see a real ReasonCode with a database id.
REQUIRED_SYSTEM_CODES: tuple[tuple[ReasonCategory, int], ...] = (
    ("NOT_READY", 255),  # presence lost, LOAD = not_ready
    ("LOGOUT", 255),  # presence lost, LOAD = logout
    ("NOT_READY", 999),  # supervisor set the agent NOT_READY
    ("LOGOUT", 999),  # supervisor signed the agent out
    ("NOT_READY", 32767),  # an offered call rang out (redirection on no answer)
    ("LOGOUT", 50040),  # the nailed-connection setup call was never answered
    ("LOGOUT", 50042),  # the nailed connection was hung up
)

DEFAULT_CONFIG_NAME = "emulator.toml"

_Digits = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]
_Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SideSettings(_Frozen):
    """One Finesse node."""

    host: str = Field(min_length=1, max_length=253)
    xmpp_domain: str = Field(min_length=1, max_length=253)


class Sides(_Frozen):
    A: SideSettings = SideSettings(host="finesse-a.emulator.test", xmpp_domain="finesse-a.emulator.test")
    B: SideSettings = SideSettings(host="finesse-b.emulator.test", xmpp_domain="finesse-b.emulator.test")


class SystemSettings(_Frozen):
    deployment_type: Literal["UCCE", "UCCX"] = "UCCE"
    system_auth_mode: Literal["NON_SSO", "SSO", "HYBRID"] = "NON_SSO"
    queue_name: str = Field(default="Sales", max_length=64)
    dnis: _Digits = "8000"


class Listen(_Frozen):
    """Where each side listens: one HTTPS port (REST, control API, XMPP over WebSocket at ``/ws/``) and one
    XMPP direct-TLS port. Port 0 picks a free port."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    https_port_a: int = Field(default=8445, ge=0, le=65535)
    https_port_b: int = Field(default=8446, ge=0, le=65535)
    xmpp_port_a: int = Field(default=5223, ge=0, le=65535)
    xmpp_port_b: int = Field(default=5224, ge=0, le=65535)


class Xmpp(_Frozen):
    notification_namespace: Literal["urn:xmpp:push:0", "http://jabber.org/protocol/pubsub"] = (
        "urn:xmpp:push:0"
    )
    max_queued_notifications: int = Field(default=1000, ge=1, le=1_000_000)


class Timing(_Frozen):
    """Every delay, in seconds; tests shrink them to milliseconds."""

    async_processing_delay_s: float = Field(default=0.05, ge=0, le=60)
    presence_logout_delay_s: float = Field(default=60.0, ge=0, le=3600)
    failure_detection_s: float = Field(default=120.0, ge=0, le=3600)
    ring_timeout_s: float = Field(default=15.0, gt=0, le=3600)
    nailed_answer_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    default_wrap_up_timer_s: int = Field(default=7200, ge=1, le=7200)
    # MAKE_CALL: INITIATING → INITIATED after the first, → ALERTING (far end rings) after the second;
    # an outside number then answers after the third (when behaviour.outside_party_answers).
    make_call_initiated_delay_s: float = Field(default=0.1, ge=0, le=60)
    make_call_alerting_delay_s: float = Field(default=0.3, ge=0, le=60)
    outside_answer_delay_s: float = Field(default=2.0, ge=0, le=3600)
    # Call-data changes spread over time (control API ``spread_s``) are published in slots this wide.
    call_data_slot_s: float = Field(default=0.005, ge=0, le=1)


class Behaviour(_Frozen):
    forced_logout_load: ForcedLogoutLoad = "not_ready"
    logout_only_from_not_ready: bool = True
    require_reason_codes: bool = True
    lock_after_failures: int = Field(default=5, ge=1, le=100)
    lock_duration_s: float = Field(default=300.0, ge=0, le=86400)
    unauthorized_html: bool = True
    max_body_bytes: int = Field(default=65536, ge=256, le=16 * 1024 * 1024)
    outside_party_answers: bool = True


class BearerSettings(_Frozen):
    """Bearer tokens (SSO): a JWT verified with an HMAC key or a JWKS, both read from files."""

    enabled: bool = False
    hmac_key_file: Path | None = None
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = ("HS256",)
    issuer: str | None = None
    audience: str | None = None
    agent_id_claim: str = "sub"
    leeway_s: int = Field(default=30, ge=0, le=600)


class Team(_Frozen):
    id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=64)
    supervisor_ids: tuple[str, ...] = ()


class Device(_Frozen):
    device_id: _Identifier
    device_type: str = Field(default="SEP", max_length=64)
    device_type_name: str = Field(default="Cisco 8865", max_length=64)


class Extension(_Frozen):
    """An extension listed here has these devices; any other extension is a single-device line."""

    number: _Digits
    devices: tuple[Device, ...] = Field(min_length=1)


class ReasonCode(_Frozen):
    id: int = Field(ge=1)
    category: ReasonCategory
    code: int = Field(ge=1, le=65535)
    label: str = Field(min_length=1, max_length=40)
    for_all: bool = True
    system: bool = False


class WrapUpReason(_Frozen):
    id: int = Field(ge=1)
    label: str = Field(min_length=1, max_length=39)
    for_all: bool = True


class Agent(_Frozen):
    id: _Identifier
    login_name: str = Field(min_length=1, max_length=64)
    password: SecretStr
    first_name: str = Field(default="", max_length=64)
    last_name: str = Field(default="", max_length=64)
    team_id: int
    roles: tuple[Role, ...] = ("Agent",)
    mobile_agent_enabled: bool = False
    wrap_up_on_incoming: WrapUpMode = "OPTIONAL"
    wrap_up_on_outgoing: WrapUpMode = "NOT_ALLOWED"
    wrap_up_timer_s: int | None = Field(default=None, ge=1, le=7200)


class EmulatorConfig(_Frozen):
    """The whole emulator configuration."""

    sides: Sides = Sides()
    listen: Listen = Listen()
    xmpp: Xmpp = Xmpp()
    system: SystemSettings = SystemSettings()
    timing: Timing = Timing()
    behaviour: Behaviour = Behaviour()
    bearer: BearerSettings = BearerSettings()
    teams: tuple[Team, ...] = Field(min_length=1)
    extensions: tuple[Extension, ...] = ()
    reason_codes: tuple[ReasonCode, ...] = ()
    wrap_up_reasons: tuple[WrapUpReason, ...] = ()
    agents: tuple[Agent, ...] = Field(min_length=1)


def _duplicates(values: list[object]) -> set[object]:
    return {value for value, count in Counter(values).items() if count > 1}


def _cross_check(config: EmulatorConfig) -> Iterator[tuple[str, str]]:
    """Problems pydantic cannot see: references between tables and uniqueness."""
    for table, ids in (
        ("agents", [agent.id for agent in config.agents]),
        ("teams", [team.id for team in config.teams]),
        ("reason_codes", [code.id for code in config.reason_codes]),
        ("wrap_up_reasons", [reason.id for reason in config.wrap_up_reasons]),
        ("extensions", [extension.number for extension in config.extensions]),
    ):
        for duplicate in sorted(_duplicates(list(ids)), key=str):
            yield table, f"duplicate id {duplicate}"
    team_ids = {team.id for team in config.teams}
    agent_ids = {agent.id for agent in config.agents}
    for index, agent in enumerate(config.agents):
        if agent.team_id not in team_ids:
            yield f"agents.{index}.team_id", f"unknown team {agent.team_id}"
        if "Agent" not in agent.roles:
            yield f"agents.{index}.roles", "every user needs the Agent role"
    for index, team in enumerate(config.teams):
        for supervisor_id in team.supervisor_ids:
            if supervisor_id not in agent_ids:
                yield f"teams.{index}.supervisor_ids", f"unknown agent {supervisor_id}"
    codes = {(code.category, code.code) for code in config.reason_codes}
    for category, number in REQUIRED_SYSTEM_CODES:
        if (category, number) not in codes:
            yield "reason_codes", f"missing system reason code {number} in category {category}"
    for index, extension in enumerate(config.extensions):
        for duplicate in sorted(_duplicates([device.device_id for device in extension.devices]), key=str):
            yield f"extensions.{index}.devices", f"duplicate device {duplicate}"
    bearer = config.bearer
    if bearer.enabled and (bearer.hmac_key_file is None) == (bearer.jwks_file is None):
        yield "bearer", "enabled bearer auth needs exactly one of hmac_key_file and jwks_file"


def parse_config(text: str, *, source: str, base_dir: Path | None = None) -> EmulatorConfig:
    """Parse and validate TOML text; relative key-file paths resolve against ``base_dir``.

    Raises :class:`ConfigError` naming every problem's key path.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, [("", f"not valid TOML: {error}")]) from error
    try:
        config = EmulatorConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError.from_locations(
            source, [(tuple(item["loc"]), item["msg"]) for item in error.errors(include_url=False)]
        ) from error
    problems = list(_cross_check(config))
    if problems:
        raise ConfigError(source, problems)
    if base_dir is not None:
        config = _resolve_key_files(config, base_dir)
    return config


def _resolve_key_files(config: EmulatorConfig, base_dir: Path) -> EmulatorConfig:
    def resolve(path: Path | None) -> Path | None:
        return None if path is None or path.is_absolute() else base_dir / path

    bearer = config.bearer.model_copy(
        update={
            "hmac_key_file": resolve(config.bearer.hmac_key_file) or config.bearer.hmac_key_file,
            "jwks_file": resolve(config.bearer.jwks_file) or config.bearer.jwks_file,
        }
    )
    return config.model_copy(update={"bearer": bearer})


def default_config_text() -> str:
    """The sample configuration shipped inside the package (a copy of ``config/emulator.toml``)."""
    return resources.files("fingress.emulator").joinpath(DEFAULT_CONFIG_NAME).read_text(encoding="utf-8")


def load_config(path: Path | None = None) -> EmulatorConfig:
    """Load ``path``, or the packaged sample cluster when ``path`` is None."""
    if path is None:
        return parse_config(default_config_text(), source=DEFAULT_CONFIG_NAME)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [("", f"cannot read: {error.__class__.__name__}")]) from error
    return parse_config(text, source=str(path), base_dir=path.parent)
