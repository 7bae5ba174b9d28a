"""deploy/compose.yaml as a user runs it: up with the local image, one job, down with nothing left."""

from __future__ import annotations

import subprocess

import pytest

from ..databases import ROOT

# One process builds the image for every test of it (see test_image.py).
pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("image")]


def test_given_the_compose_file_when_brought_up_then_a_job_runs_and_down_leaves_nothing():
    result = subprocess.run(
        [ROOT / "scripts" / "compose-smoke"], capture_output=True, text=True, timeout=900
    )

    assert result.returncode == 0, result.stderr[-4000:]
    assert "stdout 'hello from hello\\n'" in result.stdout
    assert "workers alive: ['worker-1', 'worker-2']" in result.stdout
    assert "nothing left behind" in result.stderr
