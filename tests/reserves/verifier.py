"""Run the standalone verifier script the public page serves, as a person would: a separate Python process."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "app" / "static" / "reserves" / "verify_reserves_proof.py"


def run(proof: dict, tmp_path: Path, *, public_key: str | None = None, name: str = "proof.json"):
    """(exit status, output) of ``python verify_reserves_proof.py proof.json [--public-key KEY]``."""
    path = tmp_path / name
    path.write_text(json.dumps(proof), encoding="utf-8")
    args = [sys.executable, "-I", str(SCRIPT), str(path)]  # -I: no PokerPay on the path, no site packages
    if public_key:
        args += ["--public-key", public_key]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return done.returncode, done.stdout + done.stderr


def load():
    """The same script loaded as a module, for checking many proofs without a process each."""
    spec = importlib.util.spec_from_file_location("standalone_verifier", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
