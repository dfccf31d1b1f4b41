"""``fingress certs init|issue|rotate``: the private PKI from the command line (see ``certs/README.md``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fingress import pki

DEFAULT_PKI_DIR = Path(".fingress/pki")


def register(subparsers: Any) -> None:
    """Add ``certs`` and its three actions to the ``fingress`` parser."""
    certs = subparsers.add_parser(
        "certs",
        help="private CA, edge server and connector client certificates",
        description="Manage the private PKI of the tunnel (and, for development, of the public listener).",
    )
    actions = certs.add_subparsers(dest="certs_action", required=True, metavar="ACTION")

    init = actions.add_parser("init", help="create the private CA (ca.pem, ca.key)")
    _add_dir(init)
    init.add_argument("--common-name", default="fingress private CA", help="CA subject CN")
    init.add_argument(
        "--days", type=int, default=pki.CA_VALIDITY_DAYS, help="validity in days (default 3650)"
    )
    _add_key_type(init)
    init.add_argument(
        "--force", action="store_true", help="replace an existing CA (invalidates its certificates)"
    )
    init.set_defaults(run=_run_init)

    issue = actions.add_parser("issue", help="issue an edge server or a connector client certificate")
    kinds = issue.add_subparsers(dest="certs_kind", required=True, metavar="KIND")
    server = kinds.add_parser("server", help="the edge's TLS server certificate (DIR/NAME.pem, DIR/NAME.key)")
    _add_dir(server)
    server.add_argument("--name", default="edge", help="file name stem (default edge)")
    server.add_argument("--dns", action="append", default=[], metavar="NAME", help="DNS SAN (repeatable)")
    server.add_argument("--ip", action="append", default=[], metavar="ADDRESS", help="IP SAN (repeatable)")
    server.add_argument(
        "--days", type=int, default=pki.SERVER_VALIDITY_DAYS, help="validity in days (default 90)"
    )
    _add_key_type(server)
    server.set_defaults(run=_run_issue_server)

    connector = kinds.add_parser(
        "connector", help="a connector's tunnel client certificate (DIR/connector-ID.pem, .key)"
    )
    _add_dir(connector)
    connector.add_argument("--id", required=True, dest="connector_id", help="connector id (CN and URI SAN)")
    connector.add_argument(
        "--days", type=int, default=pki.CONNECTOR_VALIDITY_DAYS, help="validity in days (default 365)"
    )
    _add_key_type(connector)
    connector.set_defaults(run=_run_issue_connector)

    rotate = actions.add_parser(
        "rotate", help="re-issue a certificate with a new key; files are replaced atomically, key first"
    )
    _add_dir(rotate)
    rotate.add_argument("--cert", type=Path, required=True, help="the certificate file to re-issue")
    rotate.add_argument("--key", type=Path, help="its key file (default: the certificate path with .key)")
    rotate.add_argument("--days", type=int, help="validity in days (default: the old certificate's lifespan)")
    rotate.set_defaults(run=_run_rotate)


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_PKI_DIR,
        help=f"PKI directory holding ca.pem (default {DEFAULT_PKI_DIR})",
    )


def _add_key_type(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-type", choices=pki.KEY_TYPES, default="ec-p256", help="default ec-p256")


def _run_init(args: argparse.Namespace) -> int:
    return _report(
        "CA",
        lambda: pki.init_ca(
            args.dir,
            common_name=args.common_name,
            validity_days=args.days,
            key_type=args.key_type,
            overwrite=args.force,
        ),
    )


def _run_issue_server(args: argparse.Namespace) -> int:
    dns_names, ip_addresses = args.dns, args.ip
    if not dns_names and not ip_addresses:
        dns_names, ip_addresses = ["localhost"], ["127.0.0.1", "::1"]
    return _report(
        "server certificate",
        lambda: pki.issue_server(
            pki.CertificateAuthority.load(args.dir),
            args.dir / f"{args.name}.pem",
            args.dir / f"{args.name}.key",
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            validity_days=args.days,
            key_type=args.key_type,
        ),
    )


def _run_issue_connector(args: argparse.Namespace) -> int:
    return _report(
        "connector certificate",
        lambda: pki.issue_connector(
            pki.CertificateAuthority.load(args.dir),
            args.dir / f"connector-{args.connector_id}.pem",
            args.dir / f"connector-{args.connector_id}.key",
            connector_id=args.connector_id,
            validity_days=args.days,
            key_type=args.key_type,
        ),
    )


def _run_rotate(args: argparse.Namespace) -> int:
    key_file = args.key or args.cert.with_suffix(".key")
    return _report(
        "rotated certificate",
        lambda: pki.rotate(
            pki.CertificateAuthority.load(args.dir), args.cert, key_file, validity_days=args.days
        ),
    )


def _report(what: str, action: Callable[[], pki.IssuedFiles]) -> int:
    try:
        issued = action()
    except pki.PkiError as error:
        print(f"fingress certs: {error.code}: {error.detail}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"fingress certs: pki_unwritable: {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"{what}: {issued.cert_file}")
    print(f"  key:        {issued.key_file} (mode 0600)")
    print(f"  sha256:     {issued.fingerprint_sha256}")
    print(f"  not after:  {issued.not_after.isoformat()}")
    return 0
