"""Re-running an explorer cell forty times stays within the memory budget.

A notebook front end keeps every displayed widget alive, so re-running ``LayerExplorer(model, img)``
forty times without ``close()`` keeps forty explorers. Their activations share one process-wide
budget: RSS growth must stay under budget + 150 MiB, and the first explorer, whose layers were
evicted by the later ones, must still draw a layer correctly (it recaptures on demand).

Runs in a fresh interpreter so that RSS reflects this scenario only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

MIB = 2**20
BUDGET = 96 * MIB  # small enough that forty ResNet-50 first pictures (3 MiB each) overflow it

SCRIPT = textwrap.dedent(
    f"""
    import gc, json
    import numpy as np
    import torch, torchvision
    torch.set_num_threads(2)
    from featviz_widgets import LayerExplorer, set_memory_budget
    from featviz_widgets.engine import memory_in_use

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    set_memory_budget({BUDGET})
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    img = (np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)
    warm = LayerExplorer(model, img)  # imports, allocator pools, first-call caches
    warm.layer = "layer1.0.conv1"
    warm.close()
    del warm
    gc.collect()
    start = rss()
    explorers = []
    for i in range(40):
        ex = LayerExplorer(model, img)  # what re-running the cell does: nobody closes it
        ex.layer = "layer1.0.conv3"  # a second layer each, as a user would look around
        explorers.append(ex)
    gc.collect()
    grown = rss() - start
    first = explorers[0]
    first.layer = "conv1"
    first.channel = 5  # a view never drawn before: needs conv1's values, long evicted
    picture = first.tab_object("maps").image.value
    fresh = LayerExplorer(model, img)
    fresh.channel = 5
    print(json.dumps({{
        "grown": grown,
        "in_use": memory_in_use(),
        "same": picture == fresh.tab_object("maps").image.value,
        "error": first.error,
    }}))
    """
)


def test_forty_unclosed_resnet50_explorers_stay_within_budget() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["error"] is None
    assert report["in_use"] <= BUDGET
    assert report["grown"] < BUDGET + 150 * MIB, f"grew {report['grown'] / MIB:.0f} MiB"
    assert report["same"], "the evicted explorer drew a different picture after recapture"
