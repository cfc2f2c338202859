"""The garbage-collector tuning of the long-running processes (impgateway.runtime): the ASGI
server's lifespan start-up, the WSGI module and the agent command apply it; nothing else does.

Each check runs in a child process: tuning the collector is process-wide and for good.
"""

from __future__ import annotations

import json
import subprocess
import sys

from impgateway.runtime import GC_THRESHOLDS
from tests.agent.agent_harness import unreachable_kubeconfig
from tests.conftest import REPO_ROOT

DEFAULT_THRESHOLDS = [700, 10, 10]


def run_python(code: str, **env: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object as its last line."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "impgateway.settings", **env},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


REPORT = (
    "import gc, json; "
    "print(json.dumps({'thresholds': gc.get_threshold(), 'frozen': gc.get_freeze_count()}))"
)


def test_tuning_freezes_the_start_up_heap_and_raises_the_thresholds_once():
    report = run_python(
        "import gc, django; django.setup(); "
        "from impgateway.runtime import tune_garbage_collector; "
        "tune_garbage_collector(); first = gc.get_freeze_count(); "
        "gc.set_threshold(123); tune_garbage_collector(); "
        "import json; print(json.dumps({'frozen': first, 'again': gc.get_threshold()[0]}))"
    )
    # Django and the apps' modules are frozen; the second call changes nothing.
    assert report["frozen"] > 10_000
    assert report["again"] == 123


def test_the_asgi_lifespan_start_up_tunes_the_collector_and_shutdown_completes():
    report = run_python(
        "import asyncio, gc, json\n"
        "from impgateway.asgi import application\n"
        "before = gc.get_threshold()\n"
        "async def main():\n"
        "    inbox = asyncio.Queue(); sent = []\n"
        "    for kind in ('lifespan.startup', 'lifespan.shutdown'):\n"
        "        inbox.put_nowait({'type': kind})\n"
        "    async def send(message): sent.append(message['type'])\n"
        "    await application({'type': 'lifespan', 'asgi': {'version': '3.0'}}, inbox.get, send)\n"
        "    return sent\n"
        "sent = asyncio.run(main())\n"
        "print(json.dumps({'before': before, 'sent': sent, 'thresholds': gc.get_threshold(),"
        " 'frozen': gc.get_freeze_count()}))"
    )
    # Importing the application alone tunes nothing (tests and tools import it too).
    assert report["before"] == DEFAULT_THRESHOLDS
    assert report["sent"] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert report["thresholds"] == list(GC_THRESHOLDS)
    assert report["frozen"] > 10_000


def test_the_wsgi_module_tunes_the_collector_when_a_server_loads_it():
    report = run_python(f"import impgateway.wsgi; {REPORT}")
    assert report["thresholds"] == list(GC_THRESHOLDS)
    assert report["frozen"] > 10_000


def test_the_agent_command_tunes_the_collector_before_it_runs(tmp_path):
    # The agent gets as far as registering with a control plane that is not there; by then
    # it has tuned the collector.
    kubeconfig = unreachable_kubeconfig(tmp_path)
    report = run_python(
        "import django; django.setup()\n"
        "from django.core.management import CommandError, call_command\n"
        "try:\n"
        "    call_command('agent', '--once', '--server', 'http://127.0.0.1:9',\n"
        f"                 '--registration-token', 'x', '--kubeconfig', {str(kubeconfig)!r},\n"
        "                 '--metrics-port', '0', '--max-backoff', '1')\n"
        "except CommandError:\n"
        "    pass\n"
        f"{REPORT}",
        DJANGO_SETTINGS_MODULE="agent.settings",
    )
    assert report["thresholds"] == list(GC_THRESHOLDS)
    assert report["frozen"] > 10_000
