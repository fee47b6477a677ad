"""`make run`: the whole system on one machine under one supervisor (honcho).

Starts an embedded Redis (when REDIS_URL is unset), the web app under gunicorn, the push process
that tells open invoice pages when they changed (app/web/push),
an RQ worker, the RQ cron scheduler and the sandbox room, providers and Telegram bot
(unless TELEGRAM_BOT_TOKEN names a real bot, notifications and "Connect Telegram" use the sandbox bot, whose
deep links open its own page with a Start button).  Ctrl-C
stops them all.  Configuration comes from the environment / `.env`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from honcho.manager import Manager

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "6390"))
PUSH_PORT = int(os.environ.get("PUSH_PORT", "5002"))
SANDBOX_TELEGRAM_PORT = 5103
sys.path.insert(0, str(ROOT))  # `sandbox` is a package of this repository


def main() -> int:
    port = os.environ.get("PORT", "5000")
    env = dict(os.environ)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("PUSH_URL", f"http://127.0.0.1:{PUSH_PORT}")
    env["PYTHONUNBUFFERED"] = "1"
    if not env.get("TELEGRAM_BOT_TOKEN"):
        from sandbox.telegram import DEFAULT_TOKEN

        sandbox_bot = f"http://127.0.0.1:{SANDBOX_TELEGRAM_PORT}"
        env.update(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_API_URL=sandbox_bot, TELEGRAM_LINK_BASE_URL=sandbox_bot,
                   TELEGRAM_UPDATES="polling")
    manager = Manager()
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
        manager.add_process(
            "redis", f"{VENV_BIN}/python -m app.embedded_redis --port {EMBEDDED_REDIS_PORT}", env=env, cwd=ROOT
        )
    manager.add_process(
        "web",
        f"{VENV_BIN}/gunicorn --workers 2 --threads 4 --bind 127.0.0.1:{port} "
        "--access-logfile - --graceful-timeout 10 wsgi:app",
        env=env,
        cwd=ROOT,
    )
    manager.add_process("push", f"{VENV_BIN}/python push.py --port {PUSH_PORT}", env=env, cwd=ROOT)
    manager.add_process("worker", f"{VENV_BIN}/python worker.py", env=env, cwd=ROOT)
    manager.add_process("scheduler", f"{VENV_BIN}/python worker.py cron", env=env, cwd=ROOT)
    accounts = ROOT / "instance" / "sandbox-accounts.json"
    subprocess.run([f"{VENV_BIN}/flask", "demo", "sandbox-accounts", str(accounts)], env=env, cwd=ROOT, check=True)
    manager.add_process("sandbox", f"{VENV_BIN}/python -m sandbox --accounts {accounts}", env=env, cwd=ROOT)
    print(f"\n  PokerPay is starting at http://127.0.0.1:{port}/  (Ctrl-C stops everything)\n", flush=True)
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
