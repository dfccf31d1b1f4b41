"""Certificate rotation on a real uvicorn server: new handshakes see the new certificate, open WebSockets
stay up, bad files never replace good ones."""

from __future__ import annotations

import asyncio
import json
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import connect

from edge.tls import ReloadableServerContext, ReloadOutcome
from fingress import pki
from tests.support.timing import seconds
from tests.tls.serving import client_context, fingerprint, handshake_fingerprint, hello_app, running_uvicorn


def _holder(dev_pki: pki.DevPki) -> ReloadableServerContext:
    return ReloadableServerContext(cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file)


async def test_rotation_reaches_new_handshakes_while_open_websocket_keeps_working(
    dev_pki: pki.DevPki,
) -> None:
    holder = _holder(dev_pki)
    client = client_context(dev_pki.ca_file)
    old_fingerprint = holder.certificate.fingerprint_sha256
    async with (
        running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port,
        asyncio.timeout(seconds(10)),
        connect(f"wss://127.0.0.1:{port}/echo", ssl=client) as websocket,
    ):
        await websocket.send("before")
        assert await websocket.recv() == "before"

        issued = pki.rotate(pki.CertificateAuthority.load(dev_pki.ca_file.parent), *_pair(dev_pki))
        outcome = holder.reload()

        assert outcome.installed
        assert outcome.error is None
        assert issued.fingerprint_sha256 == holder.certificate.fingerprint_sha256 != old_fingerprint
        assert await handshake_fingerprint(port, client) == issued.fingerprint_sha256
        assert await handshake_fingerprint(port, client, server_hostname="localhost") == (
            issued.fingerprint_sha256
        )
        # The open socket still works, on the session (and certificate) it started with.
        await websocket.send("after")
        assert await websocket.recv() == "after"
        der = websocket.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert fingerprint(der) == old_fingerprint


@pytest.mark.parametrize(
    "damage", ["garbage_cert", "mismatched_key", "garbage_key", "expired_cert", "missing"]
)
async def test_bad_rotation_keeps_the_old_certificate_serving(
    dev_pki: pki.DevPki, other_pki: pki.DevPki, damage: str
) -> None:
    holder = _holder(dev_pki)
    client = client_context(dev_pki.ca_file)
    good = holder.certificate.fingerprint_sha256
    expected_code = _damage(dev_pki, other_pki, damage)
    async with running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port:
        outcome = holder.reload()
        assert not outcome.installed
        assert outcome.error is not None
        assert outcome.error.code == expected_code
        assert holder.last_error is outcome.error
        assert outcome.certificate.fingerprint_sha256 == good
        assert await handshake_fingerprint(port, client) == good
        # A good rotation afterwards heals it.
        issued = pki.issue_server(pki.CertificateAuthority.load(dev_pki.ca_file.parent), *_pair(dev_pki))
        healed = holder.reload()
        assert healed.installed
        assert holder.last_error is None
        assert await handshake_fingerprint(port, client) == issued.fingerprint_sha256


def _pair(dev_pki: pki.DevPki) -> tuple[pki.Path, pki.Path]:
    return dev_pki.server_cert_file, dev_pki.server_key_file


def _damage(dev_pki: pki.DevPki, other_pki: pki.DevPki, damage: str) -> str:
    if damage == "garbage_cert":
        pki.write_atomically(dev_pki.server_cert_file, b"-----BEGIN CERTIFICATE-----\nnope\n", mode=0o644)
        return "tls_cert_invalid"
    if damage == "mismatched_key":
        pki.write_atomically(dev_pki.server_key_file, other_pki.server_key_file.read_bytes(), mode=0o600)
        return "tls_key_mismatch"
    if damage == "garbage_key":
        pki.write_atomically(dev_pki.server_key_file, b"\x00\xff" * 100, mode=0o600)
        return "tls_key_invalid"
    if damage == "expired_cert":
        long_ago = datetime.now(UTC) - timedelta(days=400)
        ca = pki.CertificateAuthority.load(dev_pki.ca_file.parent)
        pki.issue_server(ca, *_pair(dev_pki), validity_days=30, now=long_ago)
        return "tls_cert_expired"
    dev_pki.server_cert_file.unlink()
    return "tls_file_unreadable"


def test_the_window_between_key_and_certificate_replacement_is_refused_then_completed(
    dev_pki: pki.DevPki,
) -> None:
    """``rotate`` replaces the key first, then the certificate: a reload in between must refuse the pair,
    and the next change detection must pick the completed pair up."""
    holder = _holder(dev_pki)
    good = holder.certificate.fingerprint_sha256
    scratch = dev_pki.server_cert_file.parent / "next"
    ca = pki.CertificateAuthority.load(dev_pki.ca_file.parent)
    issued = pki.issue_server(ca, scratch.with_suffix(".pem"), scratch.with_suffix(".key"))

    pki.write_atomically(dev_pki.server_key_file, issued.key_file.read_bytes(), mode=0o600)
    halfway = holder.reload_if_changed()
    assert halfway is not None
    assert not halfway.installed
    assert halfway.error is not None
    assert halfway.error.code == "tls_key_mismatch"
    assert holder.certificate.fingerprint_sha256 == good
    assert holder.reload_if_changed() is None  # nothing changed since: no retry storm

    pki.write_atomically(dev_pki.server_cert_file, issued.cert_file.read_bytes(), mode=0o644)
    done = holder.reload_if_changed()
    assert done is not None
    assert done.installed
    assert holder.certificate.fingerprint_sha256 == issued.fingerprint_sha256


async def test_watch_reloads_on_file_change(dev_pki: pki.DevPki) -> None:
    holder = _holder(dev_pki)
    outcomes: asyncio.Queue[ReloadOutcome] = asyncio.Queue()
    watcher = asyncio.create_task(holder.watch(interval_s=0.02, on_outcome=outcomes.put_nowait))
    try:
        issued = pki.rotate(pki.CertificateAuthority.load(dev_pki.ca_file.parent), *_pair(dev_pki))
        async with asyncio.timeout(seconds(5)):
            outcome = await outcomes.get()
            while outcome.certificate.fingerprint_sha256 != issued.fingerprint_sha256:
                outcome = await outcomes.get()  # a poll may have caught the key-first window
        assert outcome.installed
        assert holder.certificate.fingerprint_sha256 == issued.fingerprint_sha256
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher


def test_construction_refuses_bad_material(dev_pki: pki.DevPki, other_pki: pki.DevPki) -> None:
    from edge.tls import TlsMaterialError

    with pytest.raises(TlsMaterialError) as caught:
        ReloadableServerContext(cert_file=dev_pki.server_cert_file, key_file=other_pki.server_key_file)
    assert caught.value.code == "tls_key_mismatch"
    assert "BEGIN" not in str(caught.value)


def test_status_exposes_fingerprint_and_expiry(dev_pki: pki.DevPki) -> None:
    holder = _holder(dev_pki)
    info = holder.certificate
    assert len(info.fingerprint_sha256) == 64
    assert info.subject == "CN=localhost"
    assert 89 * 86400 < info.seconds_left(datetime.now(UTC)) <= 90 * 86400
    assert isinstance(holder.context, ssl.SSLContext)
    status = holder.status()
    assert status["fingerprint_sha256"] == info.fingerprint_sha256
    assert status["last_error"] is None
    json.dumps(status)  # JSON-able as is


def test_status_reports_a_failed_reload(dev_pki: pki.DevPki) -> None:
    holder = _holder(dev_pki)
    dev_pki.server_key_file.write_bytes(b"junk")
    holder.reload()
    status = holder.status()
    assert status["reloads_failed"] == 1
    assert status["last_error"]["code"] == "tls_key_invalid"
    assert "junk" not in json.dumps(status)
