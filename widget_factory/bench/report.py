"""The bench's results as a table for people (``--json`` prints the document itself)."""

from __future__ import annotations

from typing import Any, TextIO

from widget_factory.bench.idle import CPU_SLICE_S

__all__ = ["print_report"]


def _n(value: float | None, unit: str = "/s") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f} x raw"


def _met(doc: dict[str, Any], name: str) -> str:
    target = doc.get("targets", {}).get(name)
    if not target or target["met"] is None:
        return ""
    sign = ">=" if name.endswith("ratio") else "<="
    return f"target {sign} {target['target']:g}: {'met' if target['met'] else 'NOT met'}"


def print_report(doc: dict[str, Any], out: TextIO) -> None:
    rows: list[tuple[str, str, str, str]] = []
    raw = doc.get("raw")
    if raw:
        rows.append(
            ("raw producer", _n(raw["per_s"]), "1.000 x raw", f"{raw['record_bytes']} B records")
        )
        rows.append(
            (
                "walkthrough (blocking)",
                _n(raw["blocking_per_s"]),
                _ratio(raw["blocking_per_s"] / raw["per_s"]),
                "one send, one ack",
            )
        )
    generation = doc.get("generation")
    if generation:
        rows.append(
            (
                "generation",
                _n(generation["per_s"]),
                _ratio(doc["generation_ratio"]),
                _met(doc, "generation_ratio"),
            )
        )
        rows.append(
            (
                "  1 process each",
                _n(generation["one_worker_per_s"]),
                _ratio(doc["generation_one_worker_ratio"]),
                "",
            )
        )
        rows.append(("    components", _n(generation["components_per_s"]), "", ""))
        rows.append(("    telemetry", _n(generation["telemetry_per_s"]), "", ""))
        workers = generation["workers"]
        rows.append(
            (
                f"  {workers} processes each",
                _n(generation["workers_per_s"]),
                _ratio(doc["generation_workers_ratio"]),
                "",
            )
        )
        rows.append(("    components", _n(generation["workers_components_per_s"]), "", ""))
        rows.append(("    telemetry", _n(generation["workers_telemetry_per_s"]), "", ""))
    pipeline = doc.get("pipeline")
    if pipeline:
        rows.append(
            (
                "pipeline (components)",
                _n(pipeline["components_per_s"]),
                _ratio(doc["pipeline_ratio"]),
                _met(doc, "pipeline_ratio"),
            )
        )
    latency = doc.get("latency")
    if latency:
        for hop, stats in latency["hops"].items():
            rows.append(
                (
                    f"latency {hop}",
                    f"p50 {stats['p50_ms']:.1f} ms",
                    f"p99 {stats['p99_ms']:.1f} ms",
                    f"{stats['count']} samples at {latency['components_per_s']:,.0f} components/s",
                )
            )
        rows.append(("", "", "", _met(doc, "hop_p99_ms")))
        floor = latency.get("floor")
        if floor and floor.get("p99_ms") is not None:
            rows.append(
                (
                    "  floor: one bare hop",
                    f"p50 {floor['p50_ms']:.1f} ms",
                    f"p99 {floor['p99_ms']:.1f} ms",
                    f"send to arrival, {floor['pace_ms']} ms linger and fetch wait, no service",
                )
            )
        by_second = latency.get("produce_p99_ms_by_second")
        if by_second:
            rows.append(
                ("  produce p99 by second", "", "", " ".join(f"{v:.0f}" for v in by_second) + " ms")
            )
    day = doc.get("virtual_day")
    if day:
        rows.append(
            ("virtual day (24 h)", f"{day['wall_s']:.1f} s", "", _met(doc, "virtual_day_s"))
        )
    for service, mb in doc.get("rss_mb", {}).items():
        rows.append((f"peak RSS {service}", f"{mb:.0f} MB", "", ""))
    if doc.get("max_rss_mb") is not None:
        rows.append(("", "", "", _met(doc, "max_rss_mb")))
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    machine = doc["machine"]
    load = machine.get("load_average_at_start")
    out.write(
        f"Widget Factory bench: {doc['broker']}; {machine['cpus']} CPUs"
        + (f", load average {load[0]:.1f} at start" if load else "")
        + "\n"
    )
    for name, value, ratio, note in rows:
        out.write(
            f"  {name:<{widths[0]}}  {value:>{widths[1]}}  {ratio:<{widths[2]}}  {note}".rstrip()
            + "\n"
        )
    if pipeline:
        out.write(
            f"Pipeline: {pipeline['components_end_to_end']:,} components produced, assembled, "
            f"inspected and booked in {pipeline['flowing_s']:.1f} s (from the first widget to the "
            f"last stage drained), on {pipeline['config']}; max lag {pipeline['max_lag']}\n"
        )
        sustained = pipeline.get("sustained")
        if sustained:
            out.write(
                f"Sustained: {sustained['components_per_s']:,.0f} components/s in real time "
                f"({sustained['share_of_unlimited']:g} of the unlimited rate): lag "
                + ("stayed" if sustained["lag_bounded"] else "did NOT stay")
                + f" within {sustained['lag_bound']:,} records (max {sustained['max_lag']}); "
                f"peak RSS {sustained['rss_mb']}\n"
            )
        cpu = pipeline.get("cpu_us_per_component", {})
        if cpu:
            out.write(
                "CPU per component (start-up included): "
                + ", ".join(f"{service} {us:.0f} us" for service, us in cpu.items())
                + f"; {sum(cpu.values()):.0f} us in all\n"
            )
    idle = doc.get("idle")
    if idle:
        _print_idle(idle, out)
    audits = doc.get("audits", {})
    if audits:
        verdict = "every invariant holds" if doc.get("audit_ok") else "FAILED"
        out.write(f"Audit of each factory run ({', '.join(audits)}): {verdict}\n")
    out.write(f"Service logs: {doc['logs']}\n")


def _print_idle(idle: dict[str, Any], out: TextIO) -> None:
    """The idle phase: a few lines, each with its target."""
    met = {name: t["met"] for name, t in idle["targets"].items()}

    def verdict(name: str) -> str:
        return f"(<= {idle['targets'][name]['target']:g}: {'met' if met[name] else 'NOT met'})"

    cpu = ", ".join(f"{name} {pct:.1f}" for name, pct in idle["cpu_pct"].items())
    out.write(
        f"Idle: the default `run` (speed {idle['speed']:g}) for {idle['window_s']:.0f} s: "
        f"{idle['cpu_pct_total']:.1f} % of one core in all {verdict('cpu_pct_total')}: {cpu}\n"
    )
    rss = idle.get("broker_rss_mb")
    if rss:
        out.write(
            f"  broker memory {rss[0]:.0f} -> {rss[1]:.0f} MB, "
            f"{idle['broker_rss_mb_per_min']:.1f} MB per minute\n"
        )
    slices = idle.get("broker_cpu_pct_by_slice")
    if slices:
        growth = idle.get("broker_cpu_pct_per_min")
        out.write(
            f"  broker CPU by {CPU_SLICE_S:g} s slice: {' '.join(f'{pct:.1f}' for pct in slices)} %"
            + (f" ({growth:+.1f} points per minute)" if growth is not None else "")
            + "\n"
        )
    behind = idle["dashboard_behind_s"]
    groups = ", ".join(
        f"{group} {s['p50']}/{s['max']}" for group, s in idle["group_behind_s"].items()
    )
    out.write(
        f"  dashboard behind the factory: p50 {behind['p50']} s, max {behind['max']} s "
        f"{verdict('dashboard_behind_s')}\n  committed offsets behind production, p50/max s: "
        f"{groups} {verdict('group_behind_p50_s')}\n"
    )
    out.write(
        f"  monitor --once {idle['monitor_s']} s "
        f"({'full' if idle['monitor_full'] else 'EMPTY'}) {verdict('monitor_s')}; "
        f"groups {idle['groups_s']} s {verdict('groups_s')}; lag {idle['lag_s']} s "
        f"{verdict('lag_s')}; order {'ok' if idle['order_ok'] else 'WARNED'}\n"
    )
