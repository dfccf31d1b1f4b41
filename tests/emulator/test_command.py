"""``fingress emulator`` as a real process: prints where each side listens, serves HTTPS with a generated
development certificate, stops cleanly on SIGTERM and SIGINT, and reports configuration errors."""

from __future__ import annotations

import asyncio
import re
import signal
import ssl
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.timing import seconds


async def _start(tmp_path: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fingress.cli",
        "emulator",
        "--port-a",
        "0",
        "--port-b",
        "0",
        "--xmpp-port-a",
        "0",
        "--xmpp-port-b",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_runs_serves_and_stops_on_a_signal(tmp_path: Path, stop_signal: signal.Signals) -> None:
    process = await _start(tmp_path)
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(seconds(20)):
        while not lines or not lines[-1].startswith("certificate:"):
            line = (await process.stdout.readline()).decode()
            assert line, f"the emulator exited early: {(await process.communicate())[1].decode()}"
            lines.append(line)
    match = re.search(r"side A: REST (https://127\.0\.0\.1:\d+)/finesse/api", lines[0])
    assert match is not None, lines
    assert re.search(r"direct TLS port \d+", lines[0])
    certificate = tmp_path / "data" / "emulator-cert.pem"
    assert certificate.exists()
    assert (tmp_path / "data" / "emulator-key.pem").stat().st_mode & 0o077 == 0
    trust = ssl.create_default_context(cafile=str(certificate))
    async with httpx.AsyncClient(verify=trust, timeout=seconds(5)) as client:
        response = await client.get(f"{match.group(1)}/finesse/api/SystemInfo")
    assert response.status_code == 200
    assert "<status>IN_SERVICE</status>" in response.text
    process.send_signal(stop_signal)
    async with asyncio.timeout(seconds(20)):
        stdout, _stderr = await process.communicate()
    assert process.returncode == 0
    assert "emulator stopped" in stdout.decode()


async def test_a_broken_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[timing]\nwarp_s = 1\n[[teams]]\nid = 1\nname = "t"\n', encoding="utf-8")
    process = await _start(tmp_path, "--config", str(bad))
    async with asyncio.timeout(seconds(20)):
        _stdout, stderr = await process.communicate()
    assert process.returncode == 2
    assert "timing.warp_s" in stderr.decode()
    assert "Traceback" not in stderr.decode()
