"""Measure the memory a large Graph attachment costs: GraphTransport streams it; the Azure provider embeds it.

Sends one attachment (100 MB by default) through the local sandbox's Graph with ``GraphTransport`` (draft +
upload session, ranges read from disk) in a fresh process, and prints the peak resident memory growth during the
send relative to the attachment size as ``rss_growth_ratio=<x>`` (goal: under 0.25).

Baseline, measured in the same run when ``apache-airflow-providers-microsoft-azure`` can be imported (its
kiota-http pin conflicts with msgraph-sdk's, so install it apart, e.g. ``pip install --no-deps --target DIR``,
and pass ``--azure-provider-path DIR``): its ``MSGraphMailHook`` builds the sendMail JSON with the file
base64-encoded inside; the same file goes through its ``build_message`` in a fresh process.

    python benchmarks/graph_memory.py [--size-mb 100] [--azure-provider-path DIR] [--smoke]

``--smoke`` sends a 4 MB attachment (the smallest that still takes the upload-session path), for CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox_process import AZURE_HINT, run_child, start_sandbox, unimportable

MB = 1024 * 1024
AZURE_MODULE = "airflow.providers.microsoft.azure.hooks.msgraph"


# -- measuring inside the fresh process ----------------------------------------------------------------------------


def _status(field: str) -> int:
    """Return a /proc/self/status memory field (VmRSS, VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def _reset_peak() -> int:
    """Reset the peak RSS counter where the kernel allows it; return the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _measure_ours(settings_file: Path, attachment: Path) -> dict[str, Any]:
    from airflow_provider_m365mail.core.identity import resolve_identity
    from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage
    from airflow_provider_m365mail.core.settings import MailSettings
    from airflow_provider_m365mail.core.transports.graph.transport import GraphTransport

    conn = json.loads(settings_file.read_text())["airflow_connections"]["graph"]
    settings = MailSettings.from_connection_fields(
        host=None, port=None, login=conn["login"], password=conn["password"], extra=conn["extra"]
    )
    identity = resolve_identity(settings)
    transport = GraphTransport(settings)

    async def run() -> dict[str, Any]:
        async with transport:
            # Warm up: imports, token, TLS session, and the draft path with a small upload.
            warm = Attachment("warm-up.bin", content=os.urandom(4 * MB))
            await transport.send(OutgoingMessage.create(to="bob@contoso.com", subject="warm-up", text="x",
                                                        attachments=[warm]), identity)
            del warm
            before = _reset_peak()
            started = time.perf_counter()
            result = await transport.send(
                OutgoingMessage.create(to="bob@contoso.com", subject="100 MB", text="x", attachments=[attachment]),
                identity,
            )
            return {"before": before, "peak": _status("VmHWM"), "seconds": time.perf_counter() - started,
                    "reply": result.reply}

    return asyncio.run(run())


def _measure_azure(attachment: Path) -> dict[str, Any]:
    import importlib

    hook = importlib.import_module(AZURE_MODULE).MSGraphMailHook
    hook.build_message(to="bob@contoso.com", subject="warm-up", html_content="x")
    before = _reset_peak()
    started = time.perf_counter()
    outcome = "built the sendMail JSON"
    try:
        message = hook.build_message(to="bob@contoso.com", subject="100 MB", html_content="x", files=[str(attachment)])
        body = json.dumps({"message": message, "saveToSentItems": True}).encode()  # what its request carries
        outcome += f" ({len(body)} bytes)"
    except ValueError as exc:
        outcome = f"refused after reading the file: {exc}"
    return {"before": before, "peak": _status("VmHWM"), "seconds": time.perf_counter() - started,
            "reply": outcome}


# -- orchestration -------------------------------------------------------------------------------------------------


def _write_attachment(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for start in range(0, size, 4 * MB):
            out.write(os.urandom(min(4 * MB, size - start)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--azure-provider-path", default=os.environ.get("AZURE_PROVIDER_PATH"))
    parser.add_argument("--smoke", action="store_true", help="a 4 MB attachment")
    parser.add_argument("--measure", choices=("ours", "azure"), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure == "ours":
        print(json.dumps(_measure_ours(Path(args.paths[0]), Path(args.paths[1]))))
        return 0
    if args.measure == "azure":
        print(json.dumps(_measure_azure(Path(args.paths[0]))))
        return 0

    size = (4 if args.smoke else args.size_mb) * MB
    with tempfile.TemporaryDirectory(prefix="graph-memory-") as tmp:
        folder = Path(tmp)
        attachment = folder / "attachment.bin"
        _write_attachment(attachment, size)
        limits = {"max_message_size": 2 * size + 16 * MB}  # base64 MIME of the attachment, with room
        sandbox, _ = start_sandbox(folder / "sandbox", {"limits": limits})
        try:
            ours = run_child(__file__, ["--measure", "ours", str(folder / "sandbox" / "settings.json"),
                                        str(attachment)])
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
        growth = ours["peak"] - ours["before"]
        print(f"attachment_bytes={size}")
        print(f"graph_transport: {ours['reply']} in {ours['seconds']:.1f} s, peak RSS growth {growth / MB:.1f} MB")
        print(f"rss_growth_ratio={growth / size:.3f}")
        unavailable = unimportable(AZURE_MODULE, args.azure_provider_path)
        if unavailable:
            print(f"azure_baseline=unavailable: {AZURE_MODULE} cannot be imported ({unavailable}); {AZURE_HINT}")
            return 0
        azure = run_child(__file__, ["--measure", "azure", str(attachment)], extra_path=args.azure_provider_path)
        azure_growth = azure["peak"] - azure["before"]
        print(f"azure MSGraphMailHook: {azure['reply'][:160]} in {azure['seconds']:.1f} s, "
              f"peak RSS growth {azure_growth / MB:.1f} MB")
        print(f"azure_rss_growth_ratio={azure_growth / size:.3f}")
        print(f"rss_growth_vs_azure={growth / max(azure_growth, 1):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
