"""The systemd units: `systemd-analyze verify` accepts them where systemd is available."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"


def test_units_are_hardened() -> None:
    for unit in ("cohost.service", "cohost-journal.service", "cohost-vllm.service"):
        text = (UNITS / unit).read_text()
        for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"):
            assert line in text, f"{unit} lacks {line}"
        assert "Restart=on-failure" in text
    daemon = (UNITS / "cohost.service").read_text()
    assert "EnvironmentFile=" in daemon and "StateDirectory=cohost" in daemon
    assert "RestartPreventExitStatus=2 3" in daemon  # bad settings or a revoked token: no loop


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not available")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # The units name /opt paths of an installed system; point them at this machine's files so
    # that verify checks the units themselves.
    env = tmp_path / "cohost.env"
    env.write_text("COHOST_TWIN__NAME=twin\n")
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        text = text.replace("/opt/cohost/.venv/bin/cohost", sys.executable)
        text = text.replace("/opt/vllm/.venv/bin/python", sys.executable)
        text = text.replace("/etc/cohost/cohost.env", str(env))
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        # verify also checks the host: no users or journal sockets in a container are ours
        if line.strip()
        and "Failed to connect" not in line
        and "/run/systemd" not in line
        and "user" not in line.lower()
    ]
    assert done.returncode == 0 or not problems, done.stderr
    assert not problems, "\n".join(problems)
