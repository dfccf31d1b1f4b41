"""Opening one tunnel connection to an edge, with every failure translated into :class:`DialFailed`."""

from __future__ import annotations

import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from edge.tunnel.errors import FingressError


class DialFailed(FingressError):
    """The edge could not be reached or refused the tunnel. ``reason`` is a stable token:
    ``bad_url``, ``refused`` (HTTP answer, e.g. identity not allowed), ``edge_certificate`` (the edge's
    certificate did not verify), ``tls`` (other TLS failure), ``handshake`` (the connection broke during
    the opening handshake: under TLS 1.3 this is how an edge rejecting our certificate shows up),
    ``timeout``, ``network``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


async def dial(
    url: str,
    *,
    ssl_context: ssl.SSLContext,
    open_timeout_s: float,
    max_frame_bytes: int,
    keepalive_interval_s: float,
    keepalive_timeout_s: float,
) -> ClientConnection:
    """Open a WebSocket to ``url`` (``wss://``), presenting the context's client certificate."""
    if not url.startswith("wss://"):
        raise DialFailed("bad_url", "the tunnel URL must start with wss://")
    try:
        return await connect(
            url,
            ssl=ssl_context,
            open_timeout=open_timeout_s,
            compression=None,
            max_size=max_frame_bytes,
            ping_interval=keepalive_interval_s,
            ping_timeout=keepalive_timeout_s,
            proxy=None,  # the connector dials the edge directly; no environment proxy applies
            user_agent_header="fingress-connector",
        )
    except InvalidURI as error:
        raise DialFailed("bad_url", "the tunnel URL is not valid") from error
    except InvalidStatus as error:
        raise DialFailed("refused", f"the edge answered HTTP {error.response.status_code}") from error
    except ssl.SSLCertVerificationError as error:
        raise DialFailed("edge_certificate", "the edge's certificate did not verify") from error
    except ssl.SSLError as error:
        raise DialFailed("tls", f"TLS failed ({error.reason or 'unknown'})") from error
    except (InvalidHandshake, EOFError) as error:
        raise DialFailed("handshake", "the connection broke during the opening handshake") from error
    except TimeoutError as error:
        raise DialFailed("timeout", "the edge did not answer in time") from error
    except OSError as error:
        raise DialFailed("network", f"cannot connect ({error.strerror or type(error).__name__})") from error
