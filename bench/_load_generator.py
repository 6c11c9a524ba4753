"""The load generator of bench/load.py (a helper, not a benchmark): open loop, bounded.

Open loop: request n is due at start + n / rate, whatever became of the earlier ones (a closed loop
would wait for answers and so slow down exactly when the server does, hiding it). Bounded: at most
`max_in_flight` requests are outstanding. A request that cannot go out on time is not sent later
in a burst: it is counted as missed, with the reason (the in-flight cap was reached, or this
process fell more than `tolerance` behind schedule). So sent + missed = scheduled, always.

Latency is measured from the request's due time (not from when it went out), so a generator that
lags cannot hide the lag in the figures. One event loop (uvloop when installed) drives all of it
through one keep-alive connection pool over TLS (bench/_http_client.py); `workers` processes each
take every workers-th slot of the one schedule, when one process is not enough.
"""

from __future__ import annotations

import asyncio
import collections
import json
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from _http_client import Client, ConnectionLost

COMPUTE = {"api-version": "2024-03-01"}
RESOURCES = {"api-version": "2022-09-01"}
NETWORK = {"api-version": "2023-09-01"}


@dataclass(frozen=True)
class Kind:
    """One kind of request: how often it comes (weight), what it is, which answers are right."""

    name: str
    weight: int
    method: str
    expected: frozenset[int]
    write: bool = False
    before_upgrade: frozenset[int] = frozenset()  # also right while no upgrade can have started yet


KINDS = (
    # reads: 80 of 100
    Kind("GET vmss", 14, "GET", frozenset({200})),
    Kind("GET vms page 1", 10, "GET", frozenset({200})),
    Kind("GET vms page 2", 8, "GET", frozenset({200})),
    Kind("GET vm instanceView", 14, "GET", frozenset({200})),
    Kind("GET vmss instanceView", 6, "GET", frozenset({200})),
    # 404 until the first run starts, as in Azure ("No rolling upgrade has run").
    Kind("GET rollingUpgrades/latest", 12, "GET", frozenset({200}), before_upgrade=frozenset({404})),
    Kind("GET osUpgradeHistory", 6, "GET", frozenset({200})),
    Kind("GET resource groups", 6, "GET", frozenset({200})),
    Kind("GET load balancer", 4, "GET", frozenset({200, 404})),  # one the writes create and delete
    # writes: 20 of 100
    Kind("PUT group tags", 4, "PUT", frozenset({200}), write=True),
    Kind("PUT load balancer", 4, "PUT", frozenset({200, 201}), write=True),
    Kind("DELETE load balancer", 4, "DELETE", frozenset({200, 202, 204}), write=True),
    Kind("PATCH side vmss tags", 4, "PATCH", frozenset({200}), write=True),
    Kind("PATCH web vmss tags", 4, "PATCH", frozenset({200}), write=True),
)
LOAD_BALANCERS = 8  # names the LB writes cycle through, so PUTs and DELETEs meet on the same ones


@dataclass(frozen=True)
class Target:
    """Where the load goes: the server and the scene's paths."""

    url: str
    ca: str
    token: str
    subscription: str
    instances: int
    page_size: int

    def group(self, name: str) -> str:
        return f"/subscriptions/{self.subscription}/resourcegroups/{name}"

    def vmss(self, group: str, name: str) -> str:
        return f"{self.group(group)}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"

    def lb(self, index: int) -> str:
        return f"{self.group('load')}/providers/Microsoft.Network/loadBalancers/load-lb-{index % LOAD_BALANCERS}"


def request_for(kind: Kind, n: int, target: Target, rng: random.Random) -> tuple[str, dict[str, str], Any]:
    """(path, query, JSON body) of the n-th request, of this kind."""
    web = target.vmss("bench", "web")
    match kind.name:
        case "GET vmss":
            return web, COMPUTE, None
        case "GET vms page 1":
            return f"{web}/virtualMachines", COMPUTE, None
        case "GET vms page 2":  # the nextLink the first page gives: $skiptoken after page_size items
            return f"{web}/virtualMachines", {**COMPUTE, "$skiptoken": str(target.page_size)}, None
        case "GET vm instanceView":
            return f"{web}/virtualMachines/{rng.randrange(target.instances)}/instanceView", COMPUTE, None
        case "GET vmss instanceView":
            return f"{web}/instanceView", COMPUTE, None
        case "GET rollingUpgrades/latest":
            return f"{web}/rollingUpgrades/latest", COMPUTE, None
        case "GET osUpgradeHistory":
            return f"{web}/osUpgradeHistory", COMPUTE, None
        case "GET resource groups":
            return f"/subscriptions/{target.subscription}/resourcegroups", RESOURCES, None
        case "GET load balancer":
            return target.lb(rng.randrange(LOAD_BALANCERS)), NETWORK, None
        case "PUT group tags":
            return target.group("load"), RESOURCES, {"location": "westus", "tags": {"load": str(n)}}
        case "PUT load balancer":
            return target.lb(rng.randrange(LOAD_BALANCERS)), NETWORK, {"location": "westus", "tags": {"load": str(n)}}
        case "DELETE load balancer":
            return target.lb(rng.randrange(LOAD_BALANCERS)), NETWORK, None
        case "PATCH side vmss tags":
            return target.vmss("load", "side"), COMPUTE, {"tags": {"load": str(n)}}
        case "PATCH web vmss tags":  # tags only: the VM model, and so the upgrade, are untouched
            return web, COMPUTE, {"tags": {"load": str(n)}}
    raise ValueError(kind.name)


@dataclass
class Tally:
    """What one process saw; tallies from several workers add up."""

    scheduled: int = 0
    sent: int = 0
    missed: collections.Counter[str] = field(default_factory=collections.Counter)  # reason -> count
    statuses: dict[str, collections.Counter[str]] = field(default_factory=dict)  # kind -> status/error -> count
    latencies: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds from due time to answer
    errors: list[str] = field(default_factory=list)  # the first few, whole: request and response
    error_count: int = 0
    wall: float = 0.0  # first due time to the last answer
    cpu: float = 0.0  # this process's CPU seconds
    max_lag: float = 0.0  # the furthest behind schedule a request went out
    connections: int = 0  # opened, in all
    # second of the run -> [sent, missed, errors, slowest answer (s)], to see when things happened
    timeline: dict[int, list[float]] = field(default_factory=dict)
    expired: int = 0  # closed by us for idling past the client's max_idle

    def add(self, other: Tally) -> None:
        self.scheduled += other.scheduled
        self.sent += other.sent
        self.missed.update(other.missed)
        for kind, counts in other.statuses.items():
            self.statuses.setdefault(kind, collections.Counter()).update(counts)
        for kind, values in other.latencies.items():
            self.latencies.setdefault(kind, []).extend(values)
        self.errors += other.errors[:max(0, 20 - len(self.errors))]
        self.error_count += other.error_count
        self.wall = max(self.wall, other.wall)
        self.cpu += other.cpu
        self.max_lag = max(self.max_lag, other.max_lag)
        self.connections += other.connections
        for second, (sent, missed, errors, slowest) in other.timeline.items():
            mine = self.timeline.setdefault(second, [0, 0, 0, 0.0])
            mine[0] += sent
            mine[1] += missed
            mine[2] += errors
            mine[3] = max(mine[3], slowest)
        self.expired += other.expired


def schedule(count: int, seed: int = 7) -> list[Kind]:
    """The kind of every request, drawn by weight from a fixed seed: the same mix every run."""
    rng = random.Random(seed)
    return rng.choices(KINDS, weights=[k.weight for k in KINDS], k=count)


async def connect(target: Target, max_in_flight: int, timeout: float) -> Client:
    """A client with its first connections open, so TLS handshakes happen before the clock starts."""
    client = Client(target.url, ca=target.ca, headers={"Authorization": f"Bearer {target.token}"}, timeout=timeout)
    await client.warm(max_in_flight)
    return client


async def generate(target: Target, client: Client, *, rate: float, duration: float, max_in_flight: int,
                   timeout: float, tolerance: float, start_at: float, upgrade_after: float, worker: int = 0,
                   workers: int = 1) -> Tally:
    """Send this worker's share of the schedule; `start_at` is the shared time.time() of slot 0;
    requests due `upgrade_after` seconds after it are sure to find the upgrade started."""
    tally = Tally()
    kinds = schedule(int(rate * duration))
    rng = random.Random(1000 + worker)
    in_flight = 0
    tasks: set[asyncio.Task[None]] = set()
    upgrade_at = start_at + upgrade_after

    def second(due: float) -> list[float]:
        return tally.timeline.setdefault(int(due - start_at), [0, 0, 0, 0.0])

    async def send(kind: Kind, n: int, due: float) -> None:
        nonlocal in_flight
        failed = tally.error_count
        path, params, body = request_for(kind, n, target, rng)
        url = f"{path}?{urlencode(params)}"
        data = None if body is None else json.dumps(body).encode()
        try:
            answer = await client.request(kind.method, url, data)
            outcome = str(answer.status)
            if answer.status not in kind.expected and not (due < upgrade_at and answer.status in kind.before_upgrade):
                tally.error_count += 1
                if len(tally.errors) < 20:
                    headers = {k.decode(): v.decode(errors="replace") for k, v in answer.headers}
                    tally.errors.append(f"{kind.method} {url} {data!r} -> {answer.status} {headers} "
                                        f"{answer.body[:1000].decode(errors='replace')}")
        except (ConnectionLost, OSError, asyncio.TimeoutError) as error:
            outcome = type(error).__name__
            tally.error_count += 1
            if len(tally.errors) < 20:
                tally.errors.append(f"{kind.method} {url} {data!r} -> {type(error).__name__} after "
                                    f"{time.time() - due:.3f} s: {error}")
        finally:
            in_flight -= 1
        latency = time.time() - due
        tally.statuses.setdefault(kind.name, collections.Counter())[outcome] += 1
        tally.latencies.setdefault(kind.name, []).append(latency)
        slot = second(due)
        slot[2] += tally.error_count - failed
        slot[3] = max(slot[3], latency)

    cpu0 = time.process_time()
    interval = 1.0 / rate
    for n in range(worker, len(kinds), workers):
        due = start_at + n * interval
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tally.scheduled += 1
        lag = time.time() - due
        if lag > tolerance:
            tally.missed["behind schedule"] += 1
            second(due)[1] += 1
            continue
        if in_flight >= max_in_flight:
            tally.missed["in-flight cap"] += 1
            second(due)[1] += 1
            continue
        second(due)[0] += 1
        tally.max_lag = max(tally.max_lag, lag)
        in_flight += 1
        tally.sent += 1
        task = asyncio.create_task(send(kinds[n], n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    tally.wall = time.time() - start_at
    tally.cpu = time.process_time() - cpu0
    tally.connections = client.opened
    tally.expired = client.expired
    client.close()
    return tally


def loop_name() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {uvloop.__version__}"


def _worker_main(target: Target, options: dict[str, Any], worker: int, workers: int, queue: Any, go: Any,
                 start_at: Any) -> None:
    try:
        # The generator stands for clients on other machines: on a busy host it must not wait
        # behind the server for a core, or its schedule slips (root may raise its priority).
        os.nice(-10)
    except OSError:
        pass

    async def main() -> Tally:
        client = await connect(target, options["max_in_flight"], options["timeout"])
        queue.put(("ready", worker))
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        return await generate(target, client, **options, start_at=start_at.value, worker=worker, workers=workers)

    try:
        import uvloop

        run: Callable[[Any], Tally] = uvloop.run
    except ImportError:
        run = asyncio.run
    queue.put(("tally", run(main())))


class Load:
    """The generator in `workers` processes of its own, off this process's GIL: `start()` returns
    once every worker has its connections open and the clock has started; `join()` waits for the
    end and adds up the tallies."""

    def __init__(self, target: Target, *, workers: int, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.go = context.Event()
        self.start_at = context.Value("d", 0.0)
        self.options = options
        # The cap is on the whole load: each worker holds its share.
        share = {**options, "max_in_flight": max(1, -(-options["max_in_flight"] // workers))}
        self.processes = [context.Process(target=_worker_main, daemon=True,
                                          args=(target, share, w, workers, self.queue, self.go, self.start_at))
                          for w in range(workers)]

    def start(self, *, lead: float = 0.5, timeout: float = 60.0) -> float:
        """Start the workers; the time.time() at which the load's clock starts."""
        for process in self.processes:
            process.start()
        for _ in self.processes:
            kind, _ = self.queue.get(timeout=timeout)
            assert kind == "ready"
        self.start_at.value = time.time() + lead
        self.go.set()
        return self.start_at.value

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    def join(self) -> Tally:
        total = Tally()
        deadline = self.start_at.value + self.options["duration"] + self.options["timeout"] + 60
        for _ in self.processes:
            kind, tally = self.queue.get(timeout=max(1.0, deadline - time.time()))
            assert kind == "tally"
            total.add(tally)
        for process in self.processes:
            process.join(10)
        return total
