"""Issue 9's WAN goals on a link the kernel shapes, from a CDN we did not write (root only).

``python benchmarks/shaped_link.py`` builds the WAN scenarios of benchmarks/pull.py ((wan-a)
one 512 MiB file, (wan-b) 30 files from 1 KiB to 200 MiB) and serves their bodies from Debian's
nginx in its own network namespace (tests/hub/shaped_link.py): ``limit_rate`` of 1/16 of the
link per request, as a CDN caps each connection, sendfile and Range; the veth pair to this host
is capped by an HTB class at ``--link`` MB/s and delayed by netem, ``--rtt`` seconds of round
trip (when the kernel has sch_netem; the report says whether it did, and the round trip a TCP
connect measured). The fixture Hub, on this side of the pair, answers metadata and redirects
file bodies to nginx. Before the shaped runs, one ``curl`` over an unshaped pair measures what
this machine's veth can carry, so the link asked for is known to be below it.

Each run, in turn: ``provisioner pull``, ``hf download``, ``curl`` (16 files at once on wan-b)
and ``aria2c -x16`` (pull.py's runners), median of ``--runs``; the report gives each tool's
share of the link, the body bytes nginx sent per byte of the repo ("served"), peak RSS, CPU per
GiB of the client and of the servers (nginx + fixture Hub), ratios to each peer, and a verdict
line per goal. ``--tls`` also runs every tool against nginx over https (a trustme CA) and prints
the CPU TLS costs. Run as root; wrap in the shared lock on the shared machine.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pull

from tests.hub import FixtureHub, start_subprocess_server
from tests.hub.shaped_link import PORT, TLS_PORT, ShapedLink, ShapedNginx, available

GOALS = {"wan-a": (0.75, 10.0), "wan-b": (0.60, 3.0)}  # share of the link, times hf download


def veth_capacity(work: Path, hub: FixtureHub, sc: pull.Scenario) -> float:
    """MB/s one curl stream gets over an unshaped pair from nginx without a rate limit."""
    link = ShapedLink().open()
    nginx = ShapedNginx(work / "nginx-raw", link, 0)
    try:
        nginx.publish(hub, sc.repo, sc.commit)
        nginx.start()
        path = max(sc.files, key=lambda p: sc.files[p])
        url = f"{nginx.url}/repos/{sc.repo}/{sc.commit}/{path}"
        started = time.monotonic()
        subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", url], check=True)
        return sc.files[path] / (time.monotonic() - started) / 1e6
    finally:
        nginx.stop()
        link.close()


def goal(sc: pull.Scenario, link: float) -> None:  # link: MB/s
    """Issue 9's WAN goal for ``provisioner pull`` (and the other tools' shares, for scale)."""
    share_goal, hf_goal = GOALS[sc.name]
    for suffix in ("", pull.TLS):
        ours, hf = "provisioner" + suffix, "hf" + suffix
        if ours not in sc.results or hf not in sc.results:
            continue
        speed = statistics.median(pull.mbps(sc, ours))
        share, times_hf = speed / link, speed / statistics.median(pull.mbps(sc, hf))
        rss = max(r.rss_mb for r in sc.results[ours])
        verdicts = [
            f"{share:.0%} of the link ({'met' if share >= share_goal else 'MISSED'}: "
            f">= {share_goal:.0%})",
            f"{times_hf:.1f}x hf ({'met' if times_hf >= hf_goal else 'MISSED'}: >= {hf_goal:g}x)",
            f"peak RSS {rss:.0f} MB ({'met' if rss < 200 else 'MISSED'}: < 200 MB)",
        ]
        where = "nginx over TLS" if suffix else "nginx"
        print(f"issue 9 WAN goal ({sc.name}), kernel-shaped link, {where}: " + "; ".join(verdicts))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "provisioner-bench"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="wan-a,wan-b")
    parser.add_argument("--link", type=float, default=200.0, help="link, MB/s")
    parser.add_argument("--rtt", type=float, default=0.02, help="round trip added, seconds")
    parser.add_argument(
        "--queue",
        type=float,
        help="link queue, MB (default: one round trip of the link; 0: the kernel's 1000 packets)",
    )
    parser.add_argument("--tools", default="provisioner,hf,curl,aria2c")
    parser.add_argument("--tls", action="store_true", help="also run every tool over https")
    args = parser.parse_args()
    why = available() or (None if pull.ensure_nginx() else "nginx is not installable")
    if why is not None:
        print(f"shaped link: cannot run here: {why}")
        return 1
    compileall.compile_dir(pull.ROOT / "src", quiet=1)
    tools = [t for t in args.tools.split(",") if t]
    if "aria2c" in tools and not pull.ensure_aria2c():
        print("aria2c not found and not installable (apt-get install aria2): skipped")
        tools.remove("aria2c")
    known = {"wan-a": pull.HALF, "wan-b": pull.MANY}
    scenarios = [pull.Scenario(s, *known[s], wan=True) for s in args.scenarios.split(",") if s]
    hub_root = args.work / "hub"
    for sc in scenarios:
        pull.build(hub_root, sc)
    hub = FixtureHub(hub_root)
    capacity = veth_capacity(args.work, hub, scenarios[0])
    print(f"veth pair, unshaped: one curl stream from nginx got {capacity:.0f} MB/s")
    link_rate = args.link * 1e6
    if args.queue is None:
        args.queue = args.link * max(args.rtt, 0.001)
    link = ShapedLink(link=link_rate, rtt=args.rtt, queue=int(args.queue * 1e6)).open()
    servers: list[subprocess.Popen[str]] = []
    nginx = ShapedNginx(args.work / "nginx-shaped", link, link_rate / 16)
    try:
        envs, urls = environments(args, link, nginx, hub_root, servers)
        for sc in scenarios:
            nginx.publish(hub, sc.repo, sc.commit)
        nginx.start()
        rtt = link.connect_rtt()
        how = {"netem": "netem", "tun": "tests.hub.delay: this kernel has no netem", "": "none"}
        added = f"{args.rtt * 1000:.0f} ms added by {how[link.delay]}"
        print(
            f"link {args.link:.0f} MB/s (HTB), {args.link / 16:.1f} MB/s per request (nginx "
            f"limit_rate), round trip {rtt * 1000:.2f} ms by TCP connect ({added}), queue "
            f"{f'{args.queue:g} MB' if args.queue else '1000 packets'}; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        for run in range(args.runs):
            for sc in scenarios:
                for suffix, env in envs.items():
                    for tool in tools:
                        pids = nginx.pids() + [s.pid for s in servers]
                        before = nginx.sent()
                        out = args.work / "out"
                        result = pull.run_tool(tool, sc, urls[suffix], out, env, pids)
                        result.served = (nginx.sent() - before) / sc.total
                        sc.results.setdefault(tool + suffix, []).append(result)
                        speed = sc.total / result.seconds / 1e6
                        line = f"run {run + 1} ({sc.name}) {tool + suffix:<16} {speed:7.0f} MB/s"
                        print(f"{line}  {result.rss_mb:6.0f} MB RSS", flush=True)
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        nginx.stop()
        link.close()
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for sc in scenarios:
        pull.report(sc, args.link)
        goal(sc, args.link)
    return 0


def environments(
    args: argparse.Namespace,
    link: ShapedLink,
    nginx: ShapedNginx,
    hub_root: Path,
    servers: list[subprocess.Popen[str]],
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Per server variant ("" plain, "+tls"): the tools' environment and the Hub's URL. Each
    variant has its own fixture Hub (on this side of the pair) redirecting to nginx."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env["PYTHONPATH"] = f"{pull.ROOT}{os.pathsep}{pull.ROOT / 'src'}"
    envs, cdns = {"": env}, {"": f"http://{link.cdn}:{PORT}"}
    if args.tls:
        ca, pem = pull.make_tls(args.work / "tls", link.cdn)
        nginx.tls = pem
        nginx.port = TLS_PORT
        envs[pull.TLS] = {**env, "SSL_CERT_FILE": str(ca), "CURL_CA_BUNDLE": str(ca)}
        cdns[pull.TLS] = nginx.url
    urls = {}
    for suffix, cdn in cdns.items():
        server, url = start_subprocess_server(
            hub_root, host=link.host, args=["--external-cdn", cdn]
        )
        servers.append(server)
        urls[suffix] = url
    return envs, urls


if __name__ == "__main__":
    sys.exit(main())
