"""The three kinds of server of bench/api.py (a helper, not a benchmark), each server in a process of
its own on loopback, over plain HTTP:

- `Scaleset`: a real `scaleset serve` (data dir of its own, sim driver, token auth, SQLite, a page
  size: 100 by default), with a scale set of N running instances;
- `Floor`: a bare Starlette JSON endpoint on uvicorn with the options `scaleset serve` uses
  (bench/_api_floor.py), answering with the scale set's own GET body, or the instance list's first
  page for a path ending in /virtualMachines (a second page body, the first page of a server of
  another page size, for such a path with the query parameter `Floor.PAGE10`);
- `Moto`: moto's server mode with an Auto Scaling group of 10 instances (boto3 sets it up).

`pin` is a CPU set for the server process (None: wherever the kernel likes).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
COMPUTE = "2024-03-01"
TOKEN = "api-bench-token"
IMAGE = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS"}
# A fast sim image: the scene's instances are up within seconds (the boot time is not measured).
SIM_IMAGE = {"bootSeconds": 0.2, "reimageSeconds": 0.2, "healthy": True}
ASG_NAME = "bench"
ASG_SIZE = 10
# moto finds the service from the SigV4 credential scope; it does not check the signature.
AWS_AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/autoscaling/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def _spawn(command: list[str], log: Path, pin: set[int] | None) -> subprocess.Popen[bytes]:
    def place() -> None:
        if pin is not None:
            os.sched_setaffinity(0, pin)

    return subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, preexec_fn=place)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check(response: httpx.Response, ok: tuple[int, ...]) -> httpx.Response:
    if response.status_code not in ok:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}")
    return response


class Scaleset:
    """`scaleset serve` over plain HTTP (no TLS flag given), sim driver, SQLite, one static token,
    `page_size` items per page of the instance list (`serve --page-size`, 1..1000)."""

    def __init__(self, instances: int, pin: set[int] | None, page_size: int = 100) -> None:
        self.instances, self.pin, self.page_size = instances, pin, page_size
        self.data_dir = Path(tempfile.mkdtemp(prefix="scaleset-api-"))
        self.log = self.data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = self.subscription = ""

    def start(self, timeout: float = 60.0) -> None:
        self.process = _spawn([sys.executable, "-m", "scaleset.cli.main", "serve", "--data-dir", str(self.data_dir),
                               "--port", "0", "--token", TOKEN, "--driver", "sim", "--log-level", "warning",
                               "--retry-after-ms", "200", "--page-size", str(self.page_size)], self.log, self.pin)
        endpoint = self.data_dir / "endpoint.json"
        deadline = time.monotonic() + timeout
        while not endpoint.exists():  # written whole (os.replace) once the server listens
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"scaleset serve did not start:\n{_tail(self.log)}")
            time.sleep(0.05)
        self.url = json.loads(endpoint.read_text())["url"]
        with self.client() as client:
            subs = _check(client.get("/subscriptions", params={"api-version": "2022-12-01"}), (200,))
            self.subscription = subs.json()["value"][0]["subscriptionId"]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, trust_env=False, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"})

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def vmss_path(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/bench/providers/Microsoft.Compute/"
                f"virtualMachineScaleSets/web")

    def set_up(self, timeout: float = 300.0) -> float:
        """Group, image, the scale set; returns the seconds until all its instances ran."""
        started = time.monotonic()
        group = f"/subscriptions/{self.subscription}/resourcegroups/bench"
        with self.client() as client:
            _check(client.put(group, params={"api-version": "2022-09-01"}, json={"location": "westus"}), (200, 201))
            image = (f"/subscriptions/{self.subscription}/providers/Microsoft.Compute/locations/westus/publishers/"
                     f"{IMAGE['publisher']}/artifacttypes/vmimage/offers/{IMAGE['offer']}/skus/{IMAGE['sku']}/versions/1.0.0")
            _check(client.put(image, params={"api-version": COMPUTE, "osType": "Linux"}, content=json.dumps(SIM_IMAGE),
                              headers={"Content-Type": "application/json"}), (200, 201))
            body = {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": self.instances}, "properties": {
                "upgradePolicy": {"mode": "Manual"},
                "virtualMachineProfile": {
                    "osProfile": {"computerNamePrefix": "vm", "adminUsername": "azureuser"},
                    "storageProfile": {"imageReference": {**IMAGE, "version": "1.0.0"}},
                    "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
                        "primary": True, "ipConfigurations": [{"name": "ip", "properties": {}}]}}]}}}}
            _check(client.put(self.vmss_path, params={"api-version": COMPUTE}, json=body), (200, 201))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                view = _check(client.get(f"{self.vmss_path}/instanceView", params={"api-version": COMPUTE}), (200,)).json()
                counts = {s["code"]: s["count"] for s in view["virtualMachine"]["statusesSummary"]}
                state = _check(client.get(self.vmss_path, params={"api-version": COMPUTE}), (200,)).json()
                if (counts.get("PowerState/running") == self.instances
                        and state["properties"]["provisioningState"] == "Succeeded"):
                    return time.monotonic() - started
                time.sleep(0.5)
        raise RuntimeError(f"the scale set's {self.instances} instances were not all running within {timeout:.0f} s")

    def stop(self) -> None:
        _stop(self.process)

    def remove(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


class _Helper:
    """A server of the benchmark's own in a directory of its own: the floor, or moto."""

    def __init__(self, prefix: str, log: str, pin: set[int] | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.log = self.dir / log
        self.pin = pin
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


class Floor(_Helper):
    """bench/_api_floor.py: Starlette + uvicorn as `scaleset serve` runs them, one JSON route.

    `page10`, when given, is a second page body (the first page of a server of page size ASG_SIZE),
    answered for a /virtualMachines path whose query has PAGE10 added: the very URL scaleset gets
    cannot tell the two pages apart, as the page size is the server's setting, not the request's."""

    PAGE10 = "floor-body=page10"

    def __init__(self, scale_set: Any, page: Any, pin: set[int] | None, page10: Any = None) -> None:
        super().__init__("scaleset-api-floor-", "floor.log", pin)
        bodies = {"other": scale_set, "page": page} | ({} if page10 is None else {"page10": page10})
        (self.dir / "body.json").write_text(json.dumps(bodies))

    def start(self, timeout: float = 30.0) -> None:
        port_file = self.dir / "port"
        self.process = _spawn([sys.executable, str(BENCH / "_api_floor.py"), str(self.dir / "body.json"), str(port_file)],
                              self.log, self.pin)
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the floor server did not start:\n{_tail(self.log)}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"



def moto_available() -> str | None:
    """None when moto's server mode and boto3 can be imported, else why not."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as error:
        return f"moto[server] is not installed ({error}); pip install -e '.[bench]'"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto(_Helper):
    """moto's server mode (werkzeug, threaded, as `moto_server` runs it) with one Auto Scaling group."""

    def __init__(self, pin: set[int] | None) -> None:
        super().__init__("scaleset-api-moto-", "moto.log", pin)

    def start(self, timeout: float = 60.0) -> None:
        port = _free_port()
        self.process = _spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], self.log, self.pin)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/moto-api/", timeout=2, trust_env=False).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's server did not start:\n{_tail(self.log)}")
            time.sleep(0.1)

    def set_up(self) -> int:
        """A launch configuration and a group of ASG_SIZE instances; returns the group's instance count."""
        import boto3

        client = boto3.client("autoscaling", endpoint_url=self.url, region_name="us-east-1",
                              aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="bench")
        client.create_launch_configuration(LaunchConfigurationName="bench-lc", ImageId="ami-12c6146b", InstanceType="t2.micro")
        client.create_auto_scaling_group(AutoScalingGroupName=ASG_NAME, LaunchConfigurationName="bench-lc", MinSize=ASG_SIZE,
                                         MaxSize=ASG_SIZE, DesiredCapacity=ASG_SIZE, AvailabilityZones=["us-east-1a"])
        group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG_NAME])["AutoScalingGroups"][0]
        return len(group["Instances"])

    @property
    def path(self) -> str:
        return f"/?Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1={ASG_NAME}&Version=2011-01-01"

