"""`scaleset serve`: the control plane's server process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from pathlib import Path

import click

from scaleset.drivers.vm_host import VmOptions
from scaleset.service.context import Settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=int, help="Port to listen on (0: any free port).")
@click.option("--data-dir", default="./.scaleset", show_default=True, type=click.Path(path_type=Path),
              help="Where the database, images, machines, keys and certificates live.")
@click.option("--db", default=None, help="SQLAlchemy URL of the store (default: SQLite in the data dir; postgresql://... works).")
@click.option("--driver", type=click.Choice(["process", "qemu", "sim"]), default="process", show_default=True,
              help="What machines are: local processes, QEMU virtual machines, or simulated.")
@click.option("--vm-accel", type=click.Choice(["auto", "kvm", "tcg"]), default="auto", show_default=True,
              help="qemu: KVM, the TCG emulator, or KVM only where it really works.")
@click.option("--vm-size-profile", type=click.Choice(["azure", "tiny"]), default="azure", show_default=True,
              help="qemu: VM sizes per SKU as in Azure, or 1 vCPU and 128 MiB for every SKU (test images).")
@click.option("--vm-memory", type=click.IntRange(64, 1 << 20), default=None, metavar="MIB",
              help="qemu: memory of every VM in MiB, whatever its SKU.")
@click.option("--vm-cpus", type=click.IntRange(1, 256), default=None, help="qemu: vCPUs of every VM, whatever its SKU.")
@click.option("--vm-max-booting", type=click.IntRange(1, 10000), default=None,
              help="qemu: at most this many VMs boot at once [default: 2 per core].")
@click.option("--tls-cert", type=click.Path(exists=True, path_type=Path), help="PEM certificate to serve HTTPS with.")
@click.option("--tls-key", type=click.Path(exists=True, path_type=Path), help="PEM private key of --tls-cert.")
@click.option("--tls-self-signed", is_flag=True, help="Serve HTTPS with a certificate of our own CA (<data-dir>/ca.pem).")
@click.option("--token", "tokens", multiple=True, help="A bearer token to accept (repeatable). Default: one generated now.")
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 1000), help="Items per page of paged lists.")
@click.option("--retry-after-ms", default=1000, show_default=True, type=click.IntRange(1, 60000),
              help="Poll interval suggested to clients of long-running operations.")
@click.option("--status-interval", default=2.0, show_default=True, type=float, help="Seconds between refreshes of instance states.")
@click.option("--address-block", type=click.IntRange(1, 254), default=None,
              help="Instances get addresses 127.<block>.x.y (default: derived from the data dir).")
@click.option("--health-wait", default="PT5M", show_default=True,
              help="How long a batch may take to turn healthy: seconds, or an ISO 8601 duration.")
@click.option("--history-keep", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="OS upgrade history: how many attempts to keep per scale set.")
@click.option("--history-window", default="P60D", show_default=True,
              help="OS upgrade history: how long attempts are kept (seconds or ISO 8601).")
@click.option("--probe-interval", default=None, type=click.FloatRange(0.05, 3600),
              help="Override every health probe's interval, in seconds (tests and demos).")
@click.option("--eligible-image", "eligible_images", multiple=True, metavar="PUBLISHER:OFFER:SKU",
              help="An image automatic OS upgrades may be turned on for (repeatable); replaces the seed's table.")
@click.option("--location", "default_location", default="westus", show_default=True, help="The location of this server's region.")
@click.option("--replica-id", default=None, metavar="ID",
              help="This replica's name among those sharing the store (default: a new random one each start).")
@click.option("--lease-period", default=10.0, show_default=True, type=click.FloatRange(1.0, 600.0),
              help="Seconds a replica's leases last unrenewed: its work moves to another replica within two of them.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def serve(host: str, port: int, data_dir: Path, db: str | None, driver: str, tls_cert: Path | None, tls_key: Path | None,
          tls_self_signed: bool, tokens: tuple[str, ...], page_size: int, retry_after_ms: int, status_interval: float,
          address_block: int | None, health_wait: str, history_keep: int, history_window: str, probe_interval: float | None,
          eligible_images: tuple[str, ...], default_location: str, log_level: str, vm_accel: str, vm_size_profile: str,
          vm_memory: int | None, vm_cpus: int | None, vm_max_booting: int | None, replica_id: str | None,
          lease_period: float) -> None:
    """Start the control plane: the ARM API and the reconciler.

    Several replicas may share one store (--db postgresql://...) and, on one host, one --data-dir:
    any of them answers any call, and each scale set's work is done by one of them at a time.
    """
    from scaleset.drivers.vm_host import INSTALL_HINT, Sizing, missing_tools

    if driver == "qemu" and (missing := missing_tools()):
        raise click.UsageError(f"--driver qemu needs {', '.join(missing)} on PATH; install them with: {INSTALL_HINT}")
    vm = VmOptions(accel=vm_accel, sizing=Sizing(vm_size_profile, vcpus=vm_cpus, memory_mib=vm_memory),
                   max_booting=vm_max_booting)
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together.")
    if tls_cert and tls_self_signed:
        raise click.UsageError("Give either --tls-cert/--tls-key or --tls-self-signed, not both.")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO; deployments call the server's own API through it
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    from scaleset.model.addresses import block_for

    settings = Settings(page_size=page_size, retry_after_ms=retry_after_ms, status_interval=status_interval,
                        default_location=default_location, address_block=address_block or block_for(data_dir),
                        health_wait=_seconds(health_wait, "--health-wait"), history_keep=history_keep,
                        history_window=_seconds(history_window, "--history-window"), probe_interval=probe_interval,
                        upgrade_poll=min(5.0, probe_interval or 5.0), health_tick=min(0.5, probe_interval or 0.5),
                        eligible_images=_eligible(eligible_images), lease_period=lease_period,
                        dispatch_poll=min(1.0, lease_period / 3))
    accepted = list(tokens) or [_generated_token(data_dir)]
    _run(_serve(host=host, port=port, data_dir=data_dir, db=db, driver_name=driver, tls_cert=tls_cert, tls_key=tls_key,
                       tls_self_signed=tls_self_signed, tokens=accepted, settings=settings, log_level=log_level, vm=vm,
                       replica_id=replica_id))


def _run(main):  # type: ignore[no-untyped-def]
    """Run the server on uvloop when it is installed (uvicorn[standard] brings it): health probing
    costs about half the CPU it does on asyncio's own loop (BENCHMARKS.md)."""
    from scaleset.collector import collect_less_often

    collect_less_often()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _eligible(given: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from scaleset.model.eligibility import DEFAULT_ELIGIBLE, eligible, parse_row

    try:
        return eligible([parse_row(text) for text in given] if given else DEFAULT_ELIGIBLE)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--eligible-image") from None


def _seconds(text: str, flag: str) -> float:
    from scaleset.model.durations import parse_seconds_or_duration

    try:
        return parse_seconds_or_duration(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=flag) from None


def _generated_token(data_dir: Path) -> str:
    """The token in <data-dir>/token, made once: replicas sharing the data dir, and a restarted
    server, accept the same one."""
    path = data_dir / "token"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another replica may have made it this instant and not written it yet
            token = path.read_text().strip()
            if token:
                click.echo(f"No --token given; accepting the one in {path}", err=True)
                return token
            time.sleep(0.02)
        raise click.ClickException(f"{path} is empty; remove it or give --token") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    click.echo(f"No --token given; accepting this generated one (also in {path}):\n  {token}", err=True)
    return token


async def _serve(*, host: str, port: int, data_dir: Path, db: str | None, driver_name: str, tls_cert: Path | None,
                 tls_key: Path | None, tls_self_signed: bool, tokens: list[str], settings: Settings, log_level: str,
                 vm: VmOptions, replica_id: str | None) -> None:
    import uvicorn

    from scaleset.api.app import create_app
    from scaleset.api.auth import StaticTokens
    from scaleset.clock import RealClock
    from scaleset.drivers import load_driver
    from scaleset.service.controlplane import ControlPlane
    from scaleset.store.database import Database, sqlite_url

    ca: Path | None = None
    if tls_self_signed:
        from scaleset.api.tls import ensure_self_signed

        files = ensure_self_signed(data_dir, hosts=_tls_hosts(host))
        tls_cert, tls_key, ca = files.cert, files.key, files.ca
    clock = RealClock()
    database = Database(db or sqlite_url(data_dir / "scaleset.db"))
    plane = ControlPlane(db=database, driver=load_driver(driver_name, data_dir=data_dir, clock=clock, vm=vm),
                         data_dir=data_dir, clock=clock, settings=settings, replica_id=replica_id)
    await plane.start()
    app = create_app(plane, StaticTokens(tokens))
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level if log_level != "info" else "warning",
                            ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None,
                            lifespan="off", access_log=log_level == "debug",
                            # Idle keep-alive clients must not hold a stopping server hostage.
                            timeout_graceful_shutdown=3,
                            # Longer than clients keep an idle connection (httpx 5 s, requests and the
                            # Azure SDK longer): the server closing first races a client's next request.
                            timeout_keep_alive=75)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                await serving  # startup failed (port taken, bad certificate): let its error show
                return
            await asyncio.sleep(0.02)
        bound = server.servers[0].sockets[0].getsockname()[1]
        scheme = "https" if tls_cert else "http"
        url = f"{scheme}://{_url_host(host)}:{bound}"
        endpoint = {"url": url, "ca": str(ca) if ca else None, "pid": os.getpid()}
        # Written whole or not at all: clients may read it the moment it appears.
        staging = data_dir / f"endpoint.json.{os.getpid()}.tmp"  # replicas may share the data dir
        staging.write_text(json.dumps(endpoint))
        os.replace(staging, data_dir / "endpoint.json")
        plane.replicas.serving_at(url)
        click.echo(f"scaleset serving {url} (driver {driver_name}, data {data_dir}, replica {plane.identity.id})", err=True)
        await serving
    finally:
        await app.state.deployment_runner.stop()
        await plane.stop()
        database.close()


def _tls_hosts(host: str) -> tuple[str, ...]:
    hosts = ["127.0.0.1", "localhost", "::1"]
    if host not in ("0.0.0.0", "::", *hosts):
        hosts.append(host)
    return tuple(hosts)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
