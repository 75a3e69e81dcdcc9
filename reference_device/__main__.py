"""`python -m reference_device`: run the reference decoder until SIGTERM/SIGINT."""

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from reference_device import readings
from reference_device.app import make_app
from reference_device.auth import Authenticator, Credentials
from reference_device.faults import Fault, Faults, UnknownFaultError, describe_known
from reference_device.gb.settings import MAX_CHANNELS, Edition, GbSettings
from reference_device.handlers import DEFAULT_MAX_ACCOUNTS, Api
from reference_device.model import AccountType
from reference_device.sip import names
from reference_device.sip.agent import SipSettings
from reference_device.sip.registration import RegisterSettings
from reference_device.sip.stack import SipStack
from reference_device.sip.transaction import Timers
from reference_device.store import Store, StoreError
from reference_device.validation import bind_address, split_host_port

DEFAULT_SIP_BIND = "127.0.0.1:0"
log = logging.getLogger("reference_device")


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdecimal() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _sip_bind(text: str) -> str:
    if split_host_port(text) is None:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (HOST '*' or IPv4), got {text!r}")
    return text


def _positive(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _edition(text: str) -> Edition:
    try:
        return Edition(int(text))
    except ValueError:
        known = ", ".join(str(e.value) for e in Edition)
        raise argparse.ArgumentTypeError(f"expected one of {known}, got {text!r}") from None


def _channels(text: str) -> int:
    if not text.isdecimal() or int(text) > MAX_CHANNELS:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_CHANNELS}, got {text!r}")
    return int(text)


def _ipv4(text: str) -> str:
    parsed = split_host_port(f"{text}:0")
    if parsed is None or parsed[0] == "*":
        raise argparse.ArgumentTypeError(f"expected an IPv4 address, got {text!r}")
    return text


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; exit 2 (argparse's code) on any error, unknown faults included."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_device",
        description="Reference decoder for the SIP-module HTTP API.",
        epilog=f"faults:\n{describe_known()}\n\nreadings (the page read another way; "
        f"POINT=READING):\n{readings.describe_known()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--http", type=_host_port, default=("127.0.0.1", 0), metavar="HOST:PORT")
    parser.add_argument("--state", type=Path, required=True, metavar="DIR")
    parser.add_argument("--user")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password")
    # Keeps the password out of argv (and so out of `ps`): the launcher passes it this way.
    secret.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch on a built-in fault (listed below); repeatable",
    )
    parser.add_argument(
        "--reading",
        action="append",
        default=[],
        metavar="POINT=READING",
        help="follow this reading of an ambiguous point of the page (listed below) instead of "
        "the default; repeatable",
    )
    parser.add_argument("--sip-bind", action="append", type=_sip_bind, metavar="HOST:PORT")
    parser.add_argument("--max-accounts", type=_positive, default=DEFAULT_MAX_ACCOUNTS)
    sip = parser.add_argument_group("SIP")
    sip.add_argument(
        "--sip-t1-ms",
        type=_positive,
        default=500,
        metavar="N",
        help="RFC 3261 T1 (RTT estimate); timers A B E F G H J derive from it",
    )
    sip.add_argument(
        "--sip-t2-ms",
        type=_positive,
        default=4000,
        metavar="N",
        help="RFC 3261 T2 (maximum retransmit interval)",
    )
    sip.add_argument(
        "--sip-t4-ms",
        type=_positive,
        default=5000,
        metavar="N",
        help="RFC 3261 T4 (timers I and K)",
    )
    sip.add_argument(
        "--register-expires",
        type=_positive,
        default=3600,
        metavar="N",
        help="expiry (s) requested in REGISTER; refresh follows the granted one",
    )
    sip.add_argument(
        "--retry-base-ms",
        type=_positive,
        default=1000,
        metavar="N",
        help="registration/auto_call retry backoff base, doubling, capped at 30 s",
    )
    sip.add_argument(
        "--sip-any-host",
        type=_ipv4,
        default="127.0.0.1",
        metavar="HOST",
        help="the address a '*' (or 0.0.0.0) bind host binds to; the default keeps "
        "the reference decoder on loopback",
    )
    sip.add_argument(
        names.RESOLVE_OPTION,
        action="store_true",
        help="look up host names (--http, registerServer, sip_out_url, dialog and media targets); "
        "off by default: only IP literals are used, a name is treated as unresolvable",
    )
    gb = parser.add_argument_group("GB28181 (accounts of type gb28181)")
    gb.add_argument(
        "--gb-edition",
        type=_edition,
        default=Edition.GB2016,
        metavar="{2016,2022}",
        help="edition of GB/T 28181 followed; 2022 sends X-GB-ver: 3.0 on REGISTER",
    )
    gb.add_argument(
        "--gb-keepalive-interval",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="keepalive (Notify/Keepalive MESSAGE) interval once registered (§9.6)",
    )
    gb.add_argument(
        "--gb-keepalive-count",
        type=_positive,
        default=3,
        metavar="N",
        help="unanswered keepalives in a row after which the device registers again",
    )
    gb.add_argument(
        "--gb-channels",
        type=_channels,
        default=16,
        metavar="N",
        help="decoder outputs listed in the Catalog (0 answers SumNum 0)",
    )
    args = parser.parse_args(argv)
    if args.password_env is not None:
        if args.password_env not in os.environ:
            parser.error(f"--password-env: environment variable {args.password_env} is not set")
        args.password = os.environ[args.password_env]
    if not args.resolve_names and not names.is_ip_literal(args.http[0]):
        # Binding to a name would look it up.
        parser.error(
            f"--http: {args.http[0]!r} is not an IP address (or add {names.RESOLVE_OPTION})"
        )
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password (or --password-env) go together")
    known = {fault.value for fault in Fault}
    unknown = [name for name in args.fault if name not in known]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; known faults:\n{describe_known()}")
    try:
        args.readings = readings.Readings(args.reading)
    except readings.ReadingError as exc:
        parser.error(f"--reading {exc}; known readings:\n{readings.describe_known()}")
    return args


async def serve(args: argparse.Namespace, store: Store, faults: Faults) -> int:
    """Serve until SIGTERM/SIGINT, having printed the ready line; return the exit code."""
    credentials = None if args.user is None else Credentials(args.user, args.password)
    names.configure(resolve_names=args.resolve_names)
    settings = SipSettings(
        timers=Timers(args.sip_t1_ms / 1000, args.sip_t2_ms / 1000, args.sip_t4_ms / 1000),
        register=RegisterSettings(args.register_expires, args.retry_base_ms / 1000),
        gb=GbSettings(
            edition=args.gb_edition,
            keepalive_interval=args.gb_keepalive_interval,
            keepalive_count=args.gb_keepalive_count,
            channels=args.gb_channels,
        ),
        any_host=args.sip_any_host,
    )
    sip = SipStack(settings, faults)
    # A bind stored as HOST.PORT (page_example_binds) opens HOST:PORT.
    accounts = sorted(store.state.accounts.values(), key=lambda a: a.id)
    if faults.on(Fault.NO_REGISTER_AFTER_RESTART):
        # The fault: the user agent starts without the stored registrar; the next save of the
        # account (modify.json, modify_call_cfg.json) hands it over.
        accounts = [dataclasses.replace(a, register_server="") for a in accounts]
    if faults.on(Fault.GB_NO_REGISTER_AFTER_RESTART):
        # The fault: the same, for gb28181 accounts only (sip accounts register as before).
        accounts = [
            dataclasses.replace(a, register_server="") if a.type is AccountType.GB28181 else a
            for a in accounts
        ]
    sip.start([bind_address(b) for b in store.state.binds], accounts)
    api = Api(
        store,
        faults,
        Authenticator(credentials),
        max_accounts=args.max_accounts,
        sip=sip,
        readings=args.readings,
    )
    runner = web.AppRunner(make_app(api), handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        host, port = args.http
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        base = f"http://{host}:{bound_port}"
        ready = {
            "event": "ready",
            "http": base,
            "api": base + "/api",
            "pid": os.getpid(),
            "faults": faults.enabled,
            "readings": api.readings.enabled,
            "state": str(args.state),
            "sip": {"binds": sip.effective_binds()},
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        log.info(
            "serving %s (faults: %s; readings: %s)",
            base,
            ", ".join(faults.enabled) or "none",
            ", ".join(f"{p}={r}" for p, r in api.readings.enabled.items()) or "defaults",
        )
        await stop.wait()
        # One line a test can read after the run: what the device was asked to change.
        log.info("stopping; writes received: %s", json.dumps(api.writes.view()))
    finally:
        await runner.cleanup()
        await sip.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the exit code is 0 after a clean stop, 2 on bad arguments or state."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        faults = Faults(args.fault)
    except UnknownFaultError as exc:  # parse_args already refused these; kept for direct callers
        print(f"unknown fault {exc}", file=sys.stderr)
        return 2
    try:
        store = Store.open(args.state, args.sip_bind or [DEFAULT_SIP_BIND], faults)
    except (StoreError, OSError) as exc:
        print(f"reference_device: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(serve(args, store, faults))


if __name__ == "__main__":
    sys.exit(main())
