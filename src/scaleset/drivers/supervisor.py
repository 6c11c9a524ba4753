"""The supervisor of one process-driver machine, like a container shim.

    python -m scaleset.drivers.supervisor <machine dir>

The driver starts it with start_new_session=True; it forks once more and the first process exits,
so the supervisor belongs to no server process: killing the server, even with SIGKILL, leaves the
machine running, and a new server adopts it through status.json. The session it leads (by
inheritance) is the machine: custom data, boot, extension commands and anything they spawn.

Protocol with the driver:
- stdin: one JSON document, {"mode": "provision" | "boot", "protected": {extension name: {...}},
  "stop_timeout", "custom_data_timeout", "extension_timeout", "download_timeout"}. Protected
  settings reach it only this way: never argv, environment or a file.
- stdout: one line, "started" once boot runs or "failed: <why>", then end of file.
- SIGTERM: stop the machine (SIGTERM to the session, SIGKILL after stop_timeout), write the final
  status, exit. It also stops, on its own, when boot exits: power follows boot.

"provision" runs custom data, starts boot, then runs the extensions; "boot" only starts boot and
keeps the extension statuses of the last provisioning.

Standard library only, so that it starts fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from scaleset.drivers import procfs
from scaleset.drivers.base import ExtensionState
from scaleset.drivers.guest_extensions import (
    CYCLE,
    ExtensionRun,
    provision_order,
    run_extension,
    settle_interrupted,
    wait_for_exit,
)
from scaleset.drivers.machine_dir import MachineDir, read_json, write_json_atomic

_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "http_proxy", "https_proxy", "no_proxy",
                   "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")  # fmt: skip


def guest_env(spec: dict[str, Any], machine: MachineDir) -> dict[str, str]:
    """What boot, custom data and extensions see: the machine's identity, not the server's secrets."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = str(machine.os_disk)
    env["SCALESET_INSTANCE_ID"] = spec["instance_id"]
    env["SCALESET_COMPUTER_NAME"] = spec["computer_name"]
    env["SCALESET_PRIVATE_IP"] = spec["private_ip"]
    env["SCALESET_IMAGE"] = spec["image"]["urn"]
    for lun in spec["data_disk_luns"]:
        env[f"SCALESET_DATA_DISK_{lun}"] = str(machine.data_disk(lun))
    if spec["custom_data"]:
        env["SCALESET_CUSTOM_DATA"] = str(machine.custom_data)
    return env


class Supervisor:
    def __init__(self, machine: MachineDir, request: dict[str, Any]) -> None:
        self.machine = machine
        self.provision = request.get("mode") == "provision"
        self.protected: dict[str, dict[str, Any]] = request.get("protected") or {}
        self.stop_timeout = float(request.get("stop_timeout", 10.0))
        self.custom_data_timeout = float(request.get("custom_data_timeout", 600.0))
        self.extension_timeout = float(request.get("extension_timeout", 1800.0))
        self.download_timeout = float(request.get("download_timeout", 60.0))
        self.lock = threading.Lock()  # guards status, `stopping` and spawning
        self.stop_requested = threading.Event()
        self.stopping = False  # set under the lock before the stop sweep: nothing spawns after it
        self.finished = False  # the final status is written; late extension results are dropped
        self.reported = False
        self.status: dict[str, Any] = {}

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        spec = read_json(self.machine.spec)
        if spec is None:
            raise RuntimeError(f"no spec.json in {self.machine.path}")
        self.machine.logs.mkdir(exist_ok=True)
        env = guest_env(spec, self.machine)
        me = procfs.proc_info(os.getpid())
        assert me is not None
        self._start_status(spec, me)
        if self.provision:
            # From here on this supervisor owns the provisioning (see the driver's create).
            self.machine.provision_pending.unlink(missing_ok=True)
            self._run_custom_data(env)
        boot = None if self.stop_requested.is_set() else self._start_boot(env)
        if boot is not None:
            self._report("started")
            if self.provision:
                threading.Thread(target=self._run_extensions, args=(spec, env), daemon=True).start()
            while not self.stop_requested.wait(0.1) and boot.poll() is None:
                pass
        self._shut_down(boot, me)
        if boot is None:
            # After the shutdown, so that the driver reads a final status when it hears of it.
            self._report(f"failed: {self.status['error'] or 'stopped before boot started'}")

    def fail(self, exc: BaseException) -> None:
        """Last words when run() raised: tell the driver and leave the reason in status.json."""
        self._report(f"failed: {exc}")
        if self.status:
            self._set(power="stopped", error=str(exc))

    # -- phases

    def _start_status(self, spec: dict[str, Any], me: procfs.ProcInfo) -> None:
        previous = read_json(self.machine.status) or {}
        if self.provision:
            extensions = [{"name": e["name"], "state": "transitioning", "message": ""} for e in spec["extensions"]]
            custom_data = None
        else:
            extensions = settle_interrupted(previous.get("extensions", []))
            custom_data = previous.get("custom_data")
        self.status = {
            "supervisor": {"pid": me.pid, "start_time": me.start_time, "session": me.session},
            "power": "starting",
            "boot": None,
            "custom_data": custom_data,
            "extensions": extensions,
            "stop_reason": None,
            "error": None,
        }
        self._set()

    def _run_custom_data(self, env: dict[str, str]) -> None:
        path = self.machine.custom_data
        try:
            with open(path, "rb") as f:
                is_script = f.read(2) == b"#!"
        except FileNotFoundError:
            return
        if not is_script:  # data for the app, which finds it through SCALESET_CUSTOM_DATA
            self._set(custom_data={"ran": False})
            return
        path.chmod(0o700)
        try:
            with open(self.machine.logs / "customdata.log", "ab") as out:
                proc = self._spawn([str(path)], cwd=self.machine.os_disk, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        except OSError as exc:
            self._set(custom_data={"ran": True, "error": str(exc)})
            return
        if proc is None:
            return
        code = wait_for_exit(proc, timeout=self.custom_data_timeout, should_stop=self._should_stop)
        self._set(custom_data={"ran": True, "exit_code": code})

    def _start_boot(self, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        boot = self.machine.os_disk / "boot"
        try:
            with open(self.machine.logs / "boot.log", "ab") as out:
                proc = self._spawn([str(boot)], cwd=self.machine.os_disk, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        except OSError as exc:
            self._set(error=f"cannot start boot: {exc}")
            return None
        if proc is not None:
            info = procfs.proc_info(proc.pid)
            start_time = info.start_time if info else None
            self._set(power="running", boot={"pid": proc.pid, "start_time": start_time, "exit_code": None})
        return proc

    def _run_extensions(self, spec: dict[str, Any], env: dict[str, str]) -> None:
        ordered, cyclic = provision_order(spec["extensions"])
        for ext in cyclic:
            message = CYCLE
            self._set_extension(ext["name"], ExtensionState.FAILED, message)
        for ext in ordered:
            if self._should_stop():
                return
            workdir = self.machine.extension_dir(ext["name"])
            run = ExtensionRun(
                spec=ext,
                protected=self.protected.get(ext["name"]) or {},
                workdir=workdir,
                env=env,
                spawn=self._spawn,
                should_stop=self._should_stop,
                timeout=self.extension_timeout,
                download_timeout=self.download_timeout,
            )
            try:
                workdir.mkdir(parents=True, exist_ok=True)
                outcome = run_extension(run)
            except Exception as exc:  # noqa: BLE001 - a handler bug must not leave it transitioning
                outcome = ExtensionState.FAILED, f"the extension handler failed: {exc}"
            if outcome is None:
                return
            self._set_extension(ext["name"], *outcome)

    def _shut_down(self, boot: subprocess.Popen[bytes] | None, me: procfs.ProcInfo) -> None:
        with self.lock:
            self.stopping = True
            requested = self.stop_requested.is_set()
        if requested:
            self._set(power="stopping")
        procfs.terminate_session(
            me.session, grace=self.stop_timeout, started_since=me.start_time, exclude=frozenset({me.pid})
        )
        code = boot.wait() if boot is not None else None
        with self.lock:
            self.status["power"] = "stopped"
            self.status["stop_reason"] = "stop requested" if requested else f"boot exited with code {code}"
            if self.status["boot"] is not None:
                self.status["boot"]["exit_code"] = code
            self.status["extensions"] = settle_interrupted(self.status["extensions"])
            write_json_atomic(self.machine.status, self.status)
            self.finished = True

    # -- plumbing

    def _spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes] | None:
        with self.lock:
            if self.stopping:
                return None
            # Its own process group, so a timed-out command can be killed with its children.
            return subprocess.Popen(argv, process_group=0, **kwargs)

    def _should_stop(self) -> bool:
        return self.stopping or self.stop_requested.is_set()

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        self.stop_requested.set()

    def _set(self, **fields: Any) -> None:
        with self.lock:
            if self.finished:
                return
            self.status.update(fields)
            write_json_atomic(self.machine.status, self.status)

    def _set_extension(self, name: str, state: ExtensionState, message: str) -> None:
        with self.lock:
            if self.finished:
                return
            for ext in self.status["extensions"]:
                if ext["name"] == name:
                    ext.update(state=state.value, message=message)
            write_json_atomic(self.machine.status, self.status)

    def _report(self, line: str) -> None:
        """Answer the driver on stdout once, then point stdout at the log so the pipe closes."""
        if self.reported:
            return
        self.reported = True
        try:
            os.write(1, (line + "\n").encode())
        except OSError:
            pass  # the driver gave up waiting; status.json still tells
        try:
            log = os.open(self.machine.logs / "supervisor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            log = os.open(os.devnull, os.O_WRONLY)
        os.dup2(log, 1)
        os.close(log)


def _detach() -> None:
    """Fork and let the parent exit, so no server process is this supervisor's parent.

    Every descriptor past stdio is closed first: a server whose event loop does not close them
    when it spawns us (uvloop does not) would otherwise hand its machines its sockets, and a copy
    of our stdout pipe that the driver then waits on for ever.
    """
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 2:
            try:
                os.close(int(name))
            except OSError:
                pass  # the directory listing's own descriptor, already gone
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.close(devnull)
    if os.fork() > 0:
        os._exit(0)


def main() -> None:
    machine = MachineDir(Path(sys.argv[1]))
    request = json.loads(sys.stdin.buffer.read() or b"{}")
    _detach()
    supervisor = Supervisor(machine, request)
    try:
        supervisor.run()
    except BaseException as exc:
        supervisor.fail(exc)
        raise


if __name__ == "__main__":
    main()
