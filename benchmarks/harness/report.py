"""From runs to results: medians, ratios, targets, and the three outputs.

- ``latest.json``: every run of every cell, the medians, the targets and what was measured on;
- ``latest.md``: the tables the README shows;
- ``ratios.png``: each client's rate over s3torchconnector's, per workload and server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .measure import median_run
from .spec import (
    BASELINE,
    BEST_PEER,
    CLIENTS,
    PEERS,
    REFERENCE,
    SINGLE_STREAM,
    SINGLE_STREAM_PEERS,
    WORKLOADS,
    WORKLOADS_BY_ID,
    Target,
    Workload,
)

# Typography for the Markdown and the chart (spelled as escapes to keep the source ASCII).
NONE = "\u2013"  # en dash: no figure
TIMES = "\u00d7"
CAPPED = "\u2020"  # dagger: a run stopped at the time cap
SATURATED = "\u2021"  # double dagger: the server or the machine was the bottleneck
SHARED = "\u00a7"  # section sign: the runs of another workload, done the same way


def base_server(section: str) -> str:
    """The server a section of the results ran on ("localbucket --net s3" ran on localbucket)."""
    return section.split()[0]


def saturated(server: str, median: dict[str, Any]) -> bool:
    """Whether a cell's figure was bounded by the server or the machine, not by the client.

    localbucket is one Python process: about one core is all it can use. On any server, the
    client, server and proxy together near the machine's two cores means it was full.
    """
    server_cores = median.get("server_cores") or 0.0
    total = server_cores + (median.get("client_cores") or 0.0) + (median.get("proxy_cores") or 0.0)
    return (base_server(server) == "localbucket" and server_cores >= 0.9) or total >= 1.8


def summarize_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A cell's status, note and medians from its runs (the median of the runs that passed)."""
    good = [run for run in runs if run.get("status") == "ok"]
    if good:
        failed = len(runs) - len(good)
        note = f"{failed} of {len(runs)} runs failed" if failed else ""
        capped = sum(1 for run in good if run.get("capped"))
        cell = {
            "status": "ok",
            "note": note,
            "median": median_run(good),
            "runs_ok": len(good),
            "runs_capped": capped,
        }
        if good[0].get("shared_from"):
            cell["runs_shared_from"] = good[0]["shared_from"]
        return cell
    if runs and all(run.get("status") == "n/a" for run in runs):
        return {"status": "n/a", "note": runs[0].get("note", ""), "median": {}}
    notes = sorted({str(run.get("note", "")) for run in runs})
    return {"status": "error", "note": "; ".join(notes), "median": {}}


def _median(cells: dict[tuple[str, str, str], dict[str, Any]], key: tuple[str, str, str]) -> Any:
    cell = cells.get(key)
    if cell is None or cell["status"] != "ok":
        return None
    return cell["median"]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def fastest(
    cells: dict[tuple[str, str, str], dict[str, Any]],
    section: str,
    workload_id: str,
    among: tuple[str, ...] = PEERS,
) -> tuple[str | None, dict[str, Any] | None]:
    """The client with the highest median rate of those ``among`` that have one, and its medians."""
    best: tuple[str | None, dict[str, Any] | None] = (None, None)
    for client in among:
        median = _median(cells, (section, workload_id, client))
        if median is None or median.get("rate") is None:
            continue
        if best[1] is None or median["rate"] > best[1]["rate"]:
            best = (client, median)
    return best


def cpu_per_unit(workload: Workload, median: dict[str, Any] | None) -> float | None:
    """Client CPU per unit of work: seconds per GiB for byte workloads, else ms per item."""
    if median is None:
        return None
    if workload.unit == "MiB/s":
        value = median.get("client_cpu_s_per_gib")
        return None if value is None else float(value)
    cpu, items = median.get("client_cpu_s"), median.get("items")
    if cpu is None or not items:
        return None
    return 1000.0 * float(cpu) / float(items)


def judge(
    target: Target,
    ours: dict[str, Any] | None,
    other: dict[str, Any] | None,
    net: dict[str, Any] | None = None,
) -> dict:
    """Whether s3torch's medians meet a target: ``met`` is True, False, or None (no figure).

    ``net`` is the shaped network's description, for a ``net_capacity`` target: s3torch's rate
    over what the connections it used could carry at the proxy's per-connection cap.
    """
    value: float | None = None
    if ours is not None:
        if target.kind == "net_capacity":
            connections = ours.get("proxy_bulk_connections")
            rate_mib = (net or {}).get("rate_mib")
            if connections and rate_mib:
                value = ratio(ours.get("rate"), connections * rate_mib)
        elif target.kind == "ratio":
            value = ratio(ours.get("rate"), (other or {}).get("rate"))
        elif target.kind == "cpu_ratio":
            value = ratio(
                ours.get("client_cpu_s_per_gib"), (other or {}).get("client_cpu_s_per_gib")
            )
        elif target.kind == "max_rss_growth_mib":
            value = ours.get("rss_growth_mib")
        elif target.kind == "first_key":
            first = ours.get("first_key_s")
            page = ours.get("one_page_s") or ours.get("page_s")
            value = ratio(first, page)
        else:
            raise ValueError(f"unknown target kind {target.kind!r}")
    met: bool | None
    if value is None:
        met = None
    elif target.kind in ("ratio", "net_capacity"):
        met = value >= target.value
    elif target.kind == "first_key":
        met = value < target.value
    else:  # cpu_ratio, max_rss_growth_mib: at most
        met = value <= target.value
    return {
        "target": target.text,
        "kind": target.kind,
        "goal": target.value,
        "value": value,
        "met": met,
    }


def build(
    meta: dict[str, Any],
    servers: dict[str, Any],
    runs: dict[tuple[str, str, str], list[dict[str, Any]]],
    skipped: list[dict[str, str]],
) -> dict[str, Any]:
    """The whole result document (what ``latest.json`` holds)."""
    cells = {key: summarize_cell(value) for key, value in runs.items()}
    targets = []
    for (server, workload_id, client), cell in cells.items():
        if client != "s3torch":
            continue
        workload = WORKLOADS_BY_ID[workload_id]
        net = (servers.get(server) or {}).get("net")
        for target in workload.s3_net_targets if net else workload.targets:
            against = target.against or BASELINE
            if against == BEST_PEER:
                against, other = fastest(cells, server, workload_id)
            elif against == SINGLE_STREAM_PEERS:
                against, other = fastest(cells, server, workload_id, SINGLE_STREAM)
            else:
                other = _median(cells, (server, workload_id, against))
            ours = _median(cells, (server, workload_id, "s3torch"))
            verdict = judge(target, ours, other, net)
            if target.against in (BEST_PEER, SINGLE_STREAM_PEERS):
                verdict["against"] = against
            if (
                target.kind == "ratio"
                and target.against == BASELINE
                and workload.reference_is_limit
            ):
                # What raw awscrt reaches over the same baseline: a target above it is beyond
                # what this machine and server allow any client.
                ceiling = ratio(
                    (_median(cells, (server, workload_id, REFERENCE)) or {}).get("rate"),
                    (other or {}).get("rate"),
                )
                verdict["reference_ratio"] = ceiling
                verdict["beyond_reference"] = ceiling is not None and ceiling < target.value
            if cell["status"] != "ok":
                verdict["why_none"] = cell["status"] + (": " + cell["note"] if cell["note"] else "")
            elif verdict["met"] is None:
                verdict["why_none"] = f"no figure for {target.against}"
            targets.append({"server": server, "workload": workload_id, **verdict})
    return {
        "meta": meta,
        "servers": servers,
        "cells": [
            {"server": s, "workload": w, "client": c, **cell, "runs": runs[(s, w, c)]}
            for (s, w, c), cell in cells.items()
        ],
        "targets": targets,
        "skipped": skipped,
    }


# -- Markdown --------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return NONE
    if digits == 0 and abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.{max(digits, 1)}f}" if digits else f"{value:.1f}"
    return f"{value:.{max(digits, 2)}f}"


def _fmt_ratio(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}{TIMES}"


def _cell_text(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return NONE
    if cell["status"] == "ok":
        marks = CAPPED if cell.get("runs_capped") else ""
        marks += SATURATED if saturated(cell["server"], cell["median"]) else ""
        marks += SHARED if cell.get("runs_shared_from") else ""
        return _fmt(cell["median"].get("rate")) + marks
    if cell["status"] == "n/a":
        return "n/a (not implemented)"
    return "error"


def _target_text(verdict: dict[str, Any]) -> str:
    if verdict["met"] is None:
        return f"{verdict['target']}: not measured"
    against = f" ({verdict['against']})" if verdict.get("against") else ""
    mark = "met" if verdict["met"] else "**missed**"
    if not verdict["met"] and verdict.get("beyond_reference"):
        mark += (
            f" (raw awscrt reaches {_fmt_ratio(verdict['reference_ratio'])}: beyond this "
            "machine and server)"
        )
    if verdict["kind"] == "max_rss_growth_mib":
        value = NONE if verdict["value"] is None else f"{verdict['value']:.0f} MiB"
    elif verdict["kind"] == "first_key":
        value = NONE if verdict["value"] is None else f"{verdict['value']:.2f} pages"
    elif verdict["kind"] == "net_capacity":
        value = NONE if verdict["value"] is None else f"{100 * verdict['value']:.0f}%"
    else:
        value = _fmt_ratio(verdict["value"])
    return f"{verdict['target']}{against}: {value} {mark}"


def markdown(document: dict[str, Any]) -> str:
    meta = document["meta"]
    cells = {(c["server"], c["workload"], c["client"]): c for c in document["cells"]}
    targets: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for verdict in document["targets"]:
        targets.setdefault((verdict["server"], verdict["workload"]), []).append(verdict)
    lines = [
        "# Benchmark results",
        "",
        f"{meta['mode']} run, {meta['started']}, {meta['machine']}; median of "
        f"{meta['runs']} run(s) per figure; {meta['total_s'] / 60:.1f} minutes in all. "
        "Ratios are s3torch's figure over the other client's, from the same run. "
        "How to read and reproduce this: [doc/benchmarks.md](../../doc/benchmarks.md).",
        "",
    ]
    if meta.get("caveat"):
        lines += [f"> {meta['caveat']}", ""]
    if meta.get("max_run_s"):
        lines += [
            f"{CAPPED} a run over many objects (a dataset's loop, or one request after another) "
            f"or a peer's M1 stream stopped after {meta['max_run_s']:.0f} s in at least one run; "
            "its rate is the objects or bytes done over the time taken (`--max-run-s 0` runs "
            "every loop to the end).",
            "",
        ]
    lines += [
        f"{SATURATED} bounded by the server or the machine: localbucket (one Python process) "
        "used 0.9 cores or more, or client, server and proxy together 1.8 of the 2 cores.",
        "",
    ]
    shared = sorted(
        {
            (c["workload"], c["runs_shared_from"])
            for c in document["cells"]
            if c.get("runs_shared_from")
        }
    )
    for workload, source in shared:
        lines += [
            f"{SHARED} {workload}: the runs of {source}, which this client does the same way "
            "(they are not repeated).",
            "",
        ]
    for server, info in document["servers"].items():
        lines += [f"## {server} ({info.get('version', '?')})", ""]
        if info.get("net"):
            net = info["net"]
            lines += [
                "Every client here goes through the S3-shaped proxy: "
                f"{net['rate_mib']:g} MiB/s per connection and direction, "
                f"{net['first_byte_ms']:g} ms to each response's first byte, "
                f"{2 * net['delay_ms']:g} ms added round trip (measured: "
                f"{_fmt(net.get('added_rtt_ms'), 1)} ms for a small request, first byte included).",
                "",
            ]
        elif info.get("proxy"):
            proxy = info["proxy"]
            lines += [
                f"Workloads marked +RTT go through the delay proxy: {proxy['delay_ms']:.0f} ms "
                f"each way, measured round trip added {_fmt(proxy.get('added_rtt_ms'), 1)} ms.",
                "",
            ]
        present = [c for c in CLIENTS if any(key[0] == server and key[2] == c for key in cells)]
        lines += [
            "| workload | unit | "
            + " | ".join(present)
            + " | ÷ s3torchconnector | best peer | ÷ best peer | client CPU: s3torch, best peer "
            "| ÷ awscrt | targets |",
            "|---|---|" + "--:|" * len(present) + "--:|---|--:|--:|--:|---|",
        ]
        for workload in WORKLOADS:
            row = {client: cells.get((server, workload.id, client)) for client in CLIENTS}
            if all(cell is None for cell in row.values()):
                continue
            ours = row["s3torch"]
            ours_median = ours["median"] if ours and ours["status"] == "ok" else None
            ours_rate = (ours_median or {}).get("rate")

            def rate_of(client: str, row: dict[str, Any] = row) -> float | None:
                cell = row[client]
                return cell["median"].get("rate") if cell and cell["status"] == "ok" else None

            peer, peer_median = fastest(cells, server, workload.id)
            cpu_unit = "s/GiB" if workload.unit == "MiB/s" else "ms/item"
            ours_cpu, peer_cpu = (
                cpu_per_unit(workload, ours_median),
                cpu_per_unit(workload, peer_median),
            )
            verdicts = "; ".join(_target_text(v) for v in targets.get((server, workload.id), []))
            title = workload.id + (" (+RTT)" if workload.proxied and not info.get("net") else "")
            lines.append(
                f"| {title} {workload.title} | {workload.unit} | "
                + " | ".join(_cell_text(row[client]) for client in present)
                + f" | {_fmt_ratio(ratio(ours_rate, rate_of(BASELINE)))}"
                + f" | {peer or NONE}"
                + f" | {_fmt_ratio(ratio(ours_rate, (peer_median or {}).get('rate')))}"
                + f" | {_fmt(ours_cpu, 2)}, {_fmt(peer_cpu, 2)} {cpu_unit}"
                + f" | {_fmt_ratio(ratio(ours_rate, rate_of(REFERENCE)))}"
                + f" | {verdicts} |"
            )
        lines += [
            "",
            "Where the time and memory went (medians). Cores are CPU-seconds per second of the "
            "run; peak RSS includes about 300 MiB of libraries every run has loaded (torch and "
            "the clients), so compare RSS growth, the rise during the run.",
            "",
        ]
        lines += [
            "| workload | client | wall s | client CPU s | client cores | CPU s/GiB | "
            "peak RSS MiB | RSS growth MiB | server cores | proxy cores |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for workload in WORKLOADS:
            for client in CLIENTS:
                cell = cells.get((server, workload.id, client))
                if cell is None:
                    continue
                if cell["status"] != "ok":
                    lines.append(
                        f"| {workload.id} | {client} | {cell['status']}: "
                        f"{_short(cell['note'])} | | | | | | | |"
                    )
                    continue
                m = cell["median"]
                lines.append(
                    f"| {workload.id} | {client} | {_fmt(m.get('wall_s'), 2)} | "
                    f"{_fmt(m.get('client_cpu_s'), 2)} | {_fmt(m.get('client_cores'), 2)} | "
                    f"{_fmt(m.get('client_cpu_s_per_gib'), 2)} | {_fmt(m.get('peak_rss_mib'))} | "
                    f"{_fmt(m.get('rss_growth_mib'))} | {_fmt(m.get('server_cores'), 2)} | "
                    f"{_fmt(m.get('proxy_cores'), 2)} |"
                )
        lines.append("")
    if document.get("skipped"):
        lines += ["Not run:", ""]
        for item in document["skipped"]:
            lines.append(f"- {item['workload']} on {item['server']}: {item['why']}")
        lines.append("")
    return "\n".join(lines)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- chart -----------------------------------------------------------------------------------


def chart(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = {(c["server"], c["workload"], c["client"]): c for c in document["cells"]}
    servers = list(document["servers"])
    others = [client for client in CLIENTS if client != BASELINE]
    colors = {
        "s3torch": "#d62728",
        "boto3": "#7f7f7f",
        "obstore": "#2ca02c",
        "s3dlio": "#9467bd",
        "webdataset": "#8c564b",
        "awscrt": "#1f77b4",
    }
    figure, axes = plt.subplots(len(servers), 1, figsize=(11, 3.8 * len(servers)), squeeze=False)
    for axis, server in zip(axes[:, 0], servers):
        workload_ids = [w.id for w in WORKLOADS if any((server, w.id, c) in cells for c in CLIENTS)]
        width = 0.8 / len(others)
        for index, client in enumerate(others):
            heights, positions = [], []
            for position, workload_id in enumerate(workload_ids):
                value = ratio(
                    _rate(cells.get((server, workload_id, client))),
                    _rate(cells.get((server, workload_id, BASELINE))),
                )
                if value is not None:
                    heights.append(value)
                    positions.append(position + (index - (len(others) - 1) / 2) * width)
            axis.bar(positions, heights, width, label=client, color=colors[client])
            if client == "s3torch":
                for position, height in zip(positions, heights):
                    axis.annotate(
                        f"{height:.1f}{TIMES}",
                        (position, height),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        for position, workload_id in enumerate(workload_ids):
            for target in WORKLOADS_BY_ID[workload_id].targets:
                if target.kind == "ratio" and target.against == BASELINE:
                    axis.hlines(
                        target.value,
                        position - 0.45,
                        position + 0.45,
                        colors="black",
                        linestyles="dashed",
                        linewidth=1,
                    )
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_yscale("log")
        axis.set_xticks(range(len(workload_ids)), workload_ids)
        axis.set_ylabel("rate ÷ s3torchconnector")
        axis.set_title(f"{server}: dashed = s3torch's target over s3torchconnector")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _rate(cell: dict[str, Any] | None) -> float | None:
    if cell is None or cell["status"] != "ok":
        return None
    value = cell["median"].get("rate")
    return float(value) if value is not None else None


def rebuild(document: dict[str, Any]) -> dict[str, Any]:
    """The document again from its runs (after a change to how they are summarized)."""
    runs = {(c["server"], c["workload"], c["client"]): c["runs"] for c in document["cells"]}
    return build(document["meta"], document["servers"], runs, document.get("skipped", []))


def write(document: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "latest.json", directory / "latest.md", directory / "ratios.png"]
    paths[0].write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    paths[1].write_text(markdown(document))
    chart(document, paths[2])
    return paths
