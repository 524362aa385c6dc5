"""Load + verify + search of a generated, signed 10,000-server registry.

Run: .venv/bin/python bench/bench_registry.py [--servers N] [--runs N]. Target here: ≤ 150 ms in total.
Each run uses a fresh RegistryStore, so nothing is cached between runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from toolhive_py.config import Paths
from toolhive_py.registry import RegistryStore, minisign


def generate(path: Path, count: int, secret: minisign.SecretKey) -> None:
    servers = {
        f"server-{i:05d}": {
            "description": f"Generated server number {i} for the registry benchmark",
            "image": f"ghcr.io/example/server-{i}:1.{i % 10}.0",
            "transport": "stdio",
            "env_vars": [{"name": "API_TOKEN", "description": "token", "required": True, "secret": True}],
            "permissions": {"network": {"outbound": {"allow_host": [f"api{i}.example.com"], "allow_port": [443]}}},
            "tools": [f"tool_{i}_a", f"tool_{i}_b"],
            "tags": ["generated", f"group-{i % 50}"],
        }
        for i in range(count)
    }
    doc = {"schema_version": 1, "version": 1, "expires": "2099-01-01T00:00:00Z", "servers": servers}
    path.write_text(json.dumps(doc))
    path.with_name(path.name + ".minisig").write_text(minisign.sign(path.read_bytes(), secret).to_file_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = Paths(root / "c", root / "s", root / "d", root / "l", root / "k")
        pair = minisign.generate_keypair()
        registry = root / "big.json"
        generate(registry, args.servers, pair.secret)
        RegistryStore(paths).add("big", str(registry), public_key=pair.public.to_base64())
        size_mb = registry.stat().st_size / 1e6
        samples = []
        for _ in range(args.runs):
            start = time.perf_counter()
            store = RegistryStore(paths)
            store.load("big")
            hits = store.search("group-7")
            samples.append((time.perf_counter() - start) * 1000)
        assert len(hits) == args.servers // 50
        samples.sort()
        print(f"registry: {args.servers} servers, {size_mb:.1f} MB, signed")
        print(f"load+verify+search  median {statistics.median(samples):.1f} ms  "
              f"p90 {samples[int(0.9 * (len(samples) - 1))]:.1f} ms  min {samples[0]:.1f} ms  ({args.runs} runs)")


if __name__ == "__main__":
    main()
