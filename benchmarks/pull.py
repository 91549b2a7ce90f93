"""Pull throughput against peers, side by side, on loopback and on a WAN-shaped server.

``python benchmarks/pull.py`` starts the fixture Hub (``python -m tests.hub``) as a subprocess,
builds (a) one 1 GiB file and (b) 30 files from 1 KiB to 200 MiB, served on plain loopback, and
the WAN scenarios (wan-a) one 512 MiB file and (wan-b) the 30 files, served by a second fixture
process shaped like a CDN on this host's non-loopback address (a WAN server is never on
loopback, where the engine may start fewer connections): ``--link`` MB/s for the whole server,
1/16 of it per connection, and ``--delay`` seconds before each answer. It runs each tool in
turn, alternating, ``--runs`` times:

- ``engine``: TransferEngine.run in a child (verification + fsync + rename into a blob path);
  also reports the time from the last network byte to the durable, verified rename.
- ``provisioner``: the ``provisioner pull`` CLI into a fresh home (plan, transfer, commit).
- ``hf``: ``hf download`` (huggingface_hub) into a fresh cache.
- ``curl``: ``curl -L -o`` one stream per file, to disk, no hashing, no fsync (on the WAN,
  several files go at once: ``-Z --parallel-max 16``).
- ``aria2c``: ``aria2c -x16 -s16`` (Debian's aria2, installed with apt-get when run as root),
  no hashing.

For the WAN scenarios the report adds each tool's share of the link, and "served": the body
bytes the fixture sent per byte of the repo (above 1: bytes asked for and thrown away).

The loopback scenarios also run every tool against a CDN the project did not write (``+nginx``):
Debian's nginx (installed with apt-get when run as root; skipped when absent, or with
``--no-nginx``) serves the same files, and a second fixture Hub answers the metadata and
redirects file bodies to it. The one-core sha256 rate (``sha256``: hashlib over the same files
from the page cache) is the ceiling every share is given against.

``--tls`` also runs every tool against twin fixture servers speaking https (a local CA made with
trustme, trusted through SSL_CERT_FILE / CURL_CA_BUNDLE / --ca-certificate) and reports, beside
MB/s, the CPU seconds per GiB of the client (decryption, hashing, writing) and of the server
(encryption), plain and TLS side by side.

Each tool runs as a child; its peak RSS comes from ``os.wait4``. Output trees are deleted after
each run. The disk and other load on the machine are noisy: compare medians from one run.
"""

from __future__ import annotations

import argparse
import compileall
import ipaddress
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

MiB = 1 << 20
GiB = 1 << 30
TLS = "+tls"
NGINX = "+nginx"
OURS = ("engine", "baseline", "provisioner")
ONE = ("Bench/One-GiB", {"model-Q4_K_M.gguf": 1024 * MiB})
HALF = ("Bench/Half-GiB", {"model-Q8_0.gguf": 512 * MiB})


def _thirty() -> dict[str, int]:
    """30 sizes, geometric from 1 KiB to 200 MiB (small ones non-LFS, like configs)."""
    low, high = 1024, 200 * MiB
    sizes = [int(low * (high / low) ** (i / 29)) for i in range(30)]
    return {
        (f"part-{i:02d}.safetensors" if s > 10_000 else f"meta-{i:02d}.json"): s
        for i, s in enumerate(sizes)
    }


MANY = ("Bench/Thirty-Files", _thirty())


@dataclass
class Result:
    seconds: float
    rss_mb: float
    commit_lag: float | None = None
    cpu: float = 0.0  # user + system seconds of the tool's processes
    server_cpu: float = 0.0  # ... and of the fixture server meanwhile
    served: float = 0.0  # WAN: body bytes the fixture sent for the repo, per byte of it


@dataclass
class Scenario:
    name: str
    repo: str
    files: dict[str, int]
    wan: bool = False
    commit: str = ""
    results: dict[str, list[Result]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.files.values())


# -- fixture ---------------------------------------------------------------------------------


def build(hub_root: Path, scenario: Scenario) -> None:
    from tests.hub import FixtureHub
    from tests.makers import big_file

    hub = FixtureHub(hub_root)
    repo = hub.find_repo(scenario.repo)
    if repo is not None:
        commit = hub.resolve(repo, "main")
        assert commit is not None
        scenario.commit = commit
        return
    sources = hub_root.parent / "sources" / scenario.repo
    files = {p: big_file(sources / p, s, seed=i) for i, (p, s) in enumerate(scenario.files.items())}
    scenario.commit = hub.add_commit(scenario.repo, dict(files))
    shutil.rmtree(sources)


# -- tools -------------------------------------------------------------------------------------


def run_child(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run, return (seconds, peak RSS MB, stdout); fail loudly on a non-zero exit.

    RSS comes from GNU time when present (``os.wait4`` on a child forked from this Python would
    count the pages it inherited before exec), else from ``os.wait4``.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        timed = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *command]
        use_time = Path("/usr/bin/time").exists()
        started = time.monotonic()
        proc = subprocess.run(timed if use_time else command, env=env, capture_output=True)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(
                f"{command[0]} failed ({proc.returncode}): {proc.stderr.decode()[-800:]}"
            )
        text = rss_file.read().strip().splitlines()
        rss = int(text[-1]) / 1024 if use_time and text else _wait4_rss()
    return elapsed, rss, proc.stdout.decode()


def _wait4_rss() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _children_cpu() -> float:
    """CPU seconds of every child waited for so far (the tool, and what it ran)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds of a running process (the fixture server), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wan_host() -> str:
    """This host's own non-loopback address, for the WAN fixture: the engine starts fewer
    connections for a server on loopback (there, connections cost the CPU hashing needs), and a
    WAN server is never there. Loopback (with a warning) if the host has no other address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # picks the outgoing address; sends nothing
            host = str(probe.getsockname()[0])
        except OSError:
            host = "127.0.0.1"
    if ipaddress.ip_address(host).is_loopback:
        print("no non-loopback address: the WAN fixture runs on loopback (the engine sees local)")
    return host


def make_tls(folder: Path, *hosts: str) -> tuple[Path, Path]:
    """A local CA and a certificate for the fixture hosts: (CA bundle, cert + key PEM)."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    issued = ca.issue_cert("127.0.0.1", "127.0.0.2", *hosts)
    issued.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    return folder / "ca.pem", folder / "server.pem"


def tool_engine(sc: Scenario, url: str, work: Path, env: dict[str, str]) -> Result:
    args = [sys.executable, __file__, "--child-engine", url, sc.repo, sc.commit, str(work)]
    seconds, rss, out = run_child(args, env)
    return Result(seconds, rss, json.loads(out.strip().splitlines()[-1])["commit_lag"])


def tool_baseline(sc: Scenario, url: str, work: Path, env: dict[str, str]) -> Result:
    """The engine of another checkout (``--baseline DIR``, e.g. ``git archive HEAD~1``)."""
    base = BASELINE[0]
    args = [sys.executable, str(base / "benchmarks" / "pull.py"), "--child-engine"]
    args += [url, sc.repo, sc.commit, str(work)]
    seconds, rss, out = run_child(args, {**env, "PYTHONPATH": f"{base}{os.pathsep}{base / 'src'}"})
    return Result(seconds, rss, json.loads(out.strip().splitlines()[-1])["commit_lag"])


BASELINE: list[Path] = []


def tool_provisioner(sc: Scenario, url: str, work: Path, env: dict[str, str]) -> Result:
    exe = str(Path(sys.executable).with_name("provisioner"))
    refs = [f"{sc.repo}:{p}" for p in sc.files] if len(sc.files) == 1 else [f"{sc.repo}:*"]
    seconds, rss, _ = run_child(
        [exe, "--home", str(work), "--endpoint", url, "--json", "pull", *refs], env
    )
    return Result(seconds, rss)


def tool_hf(sc: Scenario, url: str, work: Path, env: dict[str, str]) -> Result:
    exe = str(Path(sys.executable).with_name("hf"))
    names = list(sc.files) if len(sc.files) == 1 else []
    command = [exe, "download", sc.repo, *names, "--cache-dir", str(work)]
    seconds, rss, _ = run_child(
        command, {**env, "HF_ENDPOINT": url, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    )
    return Result(seconds, rss)


def tool_curl(sc: Scenario, url: str, work: Path, env: dict[str, str]) -> Result:
    command = ["curl", "-sS", "-f", "-L"]
    if sc.wan and len(sc.files) > 1:
        command += ["-Z", "--parallel-max", "16"]
    for i, path in enumerate(sc.files):
        command += ["-o", str(work / f"f{i}"), f"{url}/{sc.repo}/resolve/{sc.commit}/{path}"]
    seconds, rss, _ = run_child(command, env)
    return Result(seconds, rss)


def tool_aria2c(sc: Scenario, url: str, work: Path, env: dict[str, str]) -> Result:
    listing = work / "urls.txt"
    listing.write_text(
        "".join(
            f"{url}/{sc.repo}/resolve/{sc.commit}/{p}\n  out=f{i}\n" for i, p in enumerate(sc.files)
        )
    )
    command = [
        "aria2c",
        "-q",
        "-x16",
        "-s16",
        "-j5",
        "--file-allocation=none",
        "-d",
        str(work),
        "-i",
        str(listing),
    ]
    if "SSL_CERT_FILE" in env:
        command.append(f"--ca-certificate={env['SSL_CERT_FILE']}")
    seconds, rss, _ = run_child(command, env)
    return Result(seconds, rss)


def tool_sha256(sc: Scenario, url: str, work: Path, env: dict[str, str]) -> Result:
    """The ceiling of any verified download on one core: hashlib over the same files, read
    from the page cache (the fixture just served them). Timed inside the child, so start-up
    is left out: the ceiling is the hashing alone."""
    args = [sys.executable, __file__, "--child-sha256", str(HUB_ROOT[0]), sc.repo, sc.commit]
    _, rss, out = run_child(args, env)
    return Result(float(out.strip().splitlines()[-1]), rss)


HUB_ROOT: list[Path] = []


def child_sha256(hub_root: Path, repo: str, commit: str) -> None:
    """Hash every file of the commit twice (the first read warms the cache); print the second."""
    import hashlib

    from tests.hub import FixtureHub

    hub = FixtureHub(hub_root)
    paths = [hub.file_path(repo, commit, p) for p in hub.entries(repo, commit)]
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        for path in paths:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        seconds = time.perf_counter() - started
    print(seconds)


TOOLS: dict[str, Callable[[Scenario, str, Path, dict[str, str]], Result]] = {
    "engine": tool_engine,
    "baseline": tool_baseline,
    "provisioner": tool_provisioner,
    "hf": tool_hf,
    "curl": tool_curl,
    "aria2c": tool_aria2c,
    "sha256": tool_sha256,
}


# -- the child that runs our engine directly ---------------------------------------------------


def child_engine(url: str, repo: str, commit: str, work: Path) -> None:
    """Transfer every file of the commit, fsync + rename into blobs/, print the commit lag."""
    from model_provisioner._fsutil import fsync_dir
    from model_provisioner._hub import HubClient, HubSettings
    from model_provisioner._progress import TransferStats
    from model_provisioner._references import parse_reference
    from model_provisioner._store import Store
    from model_provisioner._transfer import TransferEngine, TransferJob

    settings = HubSettings(endpoint=url)
    client = HubClient(settings)
    snapshot = client.snapshot(parse_reference(f"{repo}@{commit}"))
    jobs = [
        TransferJob(
            url=settings.file_url(repo, commit, f.path),
            path=f.path,
            size=f.size,
            sha256=f.sha256,
            git_sha1=f.git_sha1,
            partial=Store(work).partial_path(f.sha256, f.git_sha1),
        )
        for f in client.files(snapshot, [f.path for f in snapshot.files])
        if f.path != ".gitattributes"
    ]
    stats = TransferStats()
    hashes = TransferEngine(settings).run(jobs, stats, threading.Event())
    blobs = work / "blobs"
    blobs.mkdir(parents=True)
    for job in jobs:
        os.replace(job.partial, blobs / hashes[job.path])
    fsync_dir(blobs)
    done = time.monotonic()
    last_byte = max(c.last_byte_at for c in stats.copy().values())
    print(json.dumps({"commit_lag": done - last_byte}))


# -- report ------------------------------------------------------------------------------------


def mbps(sc: Scenario, tool: str) -> list[float]:
    return [sc.total / r.seconds / 1e6 for r in sc.results.get(tool, [])]


def cpu_per_gib(sc: Scenario, tool: str, server: bool = False) -> float:
    runs = sc.results[tool]
    return statistics.median((r.server_cpu if server else r.cpu) for r in runs) * GiB / sc.total


def report(sc: Scenario, link: float) -> None:
    where = (
        f"WAN, link {link:.0f} MB/s, {link / 16:.1f} MB/s per connection" if sc.wan else "loopback"
    )
    print(f"\n== ({sc.name}) {sc.repo}: {len(sc.files)} files, {sc.total / 1e9:.2f} GB, {where}")
    header = f"{'tool':<16} {'median MB/s':>11} {'min..max MB/s':>16} {'peak RSS MB':>12}"
    share = f" {'link':>5} {'served':>6}" if sc.wan else ""
    print(f"{header}{share} {'CPU s/GiB':>10} {'server CPU':>10}  last byte->commit")
    for tool in sc.results:
        speeds, rss = mbps(sc, tool), [r.rss_mb for r in sc.results[tool]]
        lags = [r.commit_lag for r in sc.results[tool] if r.commit_lag is not None]
        lag = f"{statistics.median(lags):.3f} s (max {max(lags):.3f})" if lags else ""
        spread = f"{min(speeds):.0f}..{max(speeds):.0f}"
        median = statistics.median(speeds)
        wire = statistics.median(r.served for r in sc.results[tool])
        share = f" {median / link:>5.0%} {wire:>5.3f}x" if sc.wan else ""
        cpu = f"{cpu_per_gib(sc, tool):>10.2f} {cpu_per_gib(sc, tool, server=True):>10.2f}"
        print(f"{tool:<16} {median:>11.0f} {spread:>16} {max(rss):>12.0f}{share} {cpu}  {lag}")
    for suffix in ("", TLS, NGINX):
        for ours in OURS:
            if ours + suffix not in sc.results:
                continue
            ratios = []
            for peer in sc.results:
                name, peer_suffix = split_tool(peer)
                if name in (*OURS, "sha256") or peer_suffix != suffix:
                    continue
                ratio = statistics.median(mbps(sc, ours + suffix)) / statistics.median(
                    mbps(sc, peer)
                )
                ratios.append(f"{ratio:.2f}x {peer}")
            if "sha256" in sc.results:
                ceiling = statistics.median(mbps(sc, "sha256"))
                ours_speed = statistics.median(mbps(sc, ours + suffix))
                ratios.append(f"{ours_speed / ceiling:.0%} of the one-core sha256 rate")
            print(f"{ours + suffix} vs peers: {', '.join(ratios)}")
    loopback_goal(sc)
    tls_cost(sc)


def loopback_goal(sc: Scenario) -> None:
    """Issue 9's loopback goal for ``provisioner pull`` of 1 GiB, against each server: at least
    2x ``hf download`` and 70% of the one-core sha256 rate, peak RSS under 200 MB."""
    if sc.name != "a" or "sha256" not in sc.results:
        return
    ceiling = statistics.median(mbps(sc, "sha256"))
    for suffix in ("", TLS, NGINX):
        ours, hf = "provisioner" + suffix, "hf" + suffix
        if ours not in sc.results or hf not in sc.results:
            continue
        speed = statistics.median(mbps(sc, ours))
        times_hf = speed / statistics.median(mbps(sc, hf))
        share = speed / ceiling
        rss = max(r.rss_mb for r in sc.results[ours])
        server = {"": "fixture CDN", TLS: "fixture over TLS", NGINX: "nginx CDN"}[suffix]
        verdicts = [
            f"{times_hf:.2f}x hf ({'met' if times_hf >= 2 else 'MISSED'}: >= 2x)",
            f"{share:.0%} of sha256 ({'met' if share >= 0.7 else 'MISSED'}: >= 70%)",
            f"peak RSS {rss:.0f} MB ({'met' if rss < 200 else 'MISSED'}: < 200 MB)",
        ]
        print(f"issue 9 loopback goal, {server}: " + "; ".join(verdicts))


def split_tool(tool: str) -> tuple[str, str]:
    """``hf+nginx`` -> (``hf``, ``+nginx``): the tool and the server variant it ran against."""
    for suffix in (TLS, NGINX):
        if tool.endswith(suffix):
            return tool.removesuffix(suffix), suffix
    return tool, ""


def tls_cost(sc: Scenario) -> None:
    """Plain against TLS for each tool run both ways: speed, and client CPU per GiB."""
    for tool in sc.results:
        if tool.endswith(TLS) or tool + TLS not in sc.results:
            continue
        plain, tls = statistics.median(mbps(sc, tool)), statistics.median(mbps(sc, tool + TLS))
        cpu, tls_cpu = cpu_per_gib(sc, tool), cpu_per_gib(sc, tool + TLS)
        print(
            f"TLS cost, {tool}: {plain:.0f} -> {tls:.0f} MB/s ({tls / plain:.2f}x), "
            f"client CPU {cpu:.2f} -> {tls_cpu:.2f} s/GiB (+{tls_cpu - cpu:.2f})"
        )


def run_tool(
    tool: str, sc: Scenario, url: str, out: Path, env: dict[str, str], server_pids: list[int]
) -> Result:
    """One run of one tool into a fresh ``out``, with its CPU time and the servers'."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cpu, server_cpu = _children_cpu(), sum(_process_cpu(pid) for pid in server_pids)
    try:
        result = TOOLS[tool](sc, url, out, env)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    result.cpu = _children_cpu() - cpu
    result.server_cpu = sum(_process_cpu(pid) for pid in server_pids) - server_cpu
    return result


def served(url: str, repo: str, env: dict[str, str]) -> int:
    """Body bytes the fixture server has sent for ``repo`` so far (its ``/_fixture/bytes``):
    what a tool asked for and threw away (a stolen tail's bytes in flight) shows up here."""
    import ssl
    import urllib.request

    cafile = env.get("SSL_CERT_FILE")
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    with urllib.request.urlopen(f"{url}/_fixture/bytes", timeout=10, context=context) as answer:
        counters: dict[str, int] = json.load(answer)
    return sum(n for key, n in counters.items() if key.startswith(f"{repo}/"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "provisioner-bench"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="a,b,wan-a,wan-b")
    parser.add_argument("--link", type=float, default=200.0, help="WAN link, MB/s")
    parser.add_argument("--delay", type=float, default=0.02, help="WAN seconds per answer")
    parser.add_argument("--tools", default="engine,provisioner,hf,curl,aria2c")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose engine runs as tool 'baseline'"
    )
    parser.add_argument("--tls", action="store_true", help="also run every tool over https")
    parser.add_argument(
        "--no-nginx", action="store_true", help="loopback: skip the nginx CDN (+nginx)"
    )
    parser.add_argument("--child-engine", nargs=4, metavar=("URL", "REPO", "COMMIT", "WORK"))
    parser.add_argument("--child-sha256", nargs=3, metavar=("HUB", "REPO", "COMMIT"))
    args = parser.parse_args()
    if args.child_sha256:
        hub, repo, commit = args.child_sha256
        child_sha256(Path(hub), repo, commit)
        return 0
    if args.child_engine:
        url, repo, commit, work = args.child_engine
        child_engine(url, repo, commit, Path(work))
        return 0

    from tests.hub import FixtureHub, start_subprocess_server
    from tests.hub.nginx import NginxCdn

    # As an installed package has them: with PYTHONDONTWRITEBYTECODE set, every child would
    # otherwise compile our modules again (~35 ms of each start).
    compileall.compile_dir(ROOT / "src", quiet=1)

    tools = [t for t in args.tools.split(",") if t]
    if args.baseline is not None:
        BASELINE.append(args.baseline.resolve())
        if "baseline" not in tools:
            tools.insert(1 if "engine" in tools else 0, "baseline")
    if "aria2c" in tools and not ensure_aria2c():
        print("aria2c not found and not installable (apt-get install aria2): skipped")
        tools.remove("aria2c")
    known = {"a": ONE, "b": MANY, "wan-a": HALF, "wan-b": MANY}
    names = [s for s in args.scenarios.split(",") if s]
    scenarios = [Scenario(s, *known[s], wan=s.startswith("wan")) for s in names]
    hub_root = args.work / "hub"
    HUB_ROOT.append(hub_root)
    for sc in scenarios:
        build(hub_root, sc)
    link = args.link * 1e6
    shaping = ["--link-rate", str(link), "--connection-rate", str(link / 16)]
    shaping += ["--response-delay", str(args.delay)]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'src'}"
    envs = {"": env}
    wan_at = wan_host() if any(sc.wan for sc in scenarios) else "127.0.0.1"
    shaping += ["--cdn-host", wan_at]
    if args.tls:
        ca, pem = make_tls(args.work / "tls", wan_at)
        envs[TLS] = {**env, "SSL_CERT_FILE": str(ca), "CURL_CA_BUNDLE": str(ca)}
    servers: dict[tuple[bool, str], tuple[subprocess.Popen[str], str]] = {}
    for wan in sorted({sc.wan for sc in scenarios}):
        for suffix in envs:
            extra = (shaping if wan else []) + (["--tls-cert", str(pem)] if suffix else [])
            host = wan_at if wan else "127.0.0.1"
            servers[(wan, suffix)] = start_subprocess_server(hub_root, host=host, args=extra)
    loopback = [sc for sc in scenarios if not sc.wan]
    nginx = NginxCdn(args.work / "nginx")
    if loopback and not args.no_nginx:
        if ensure_nginx():
            for sc in loopback:
                nginx.publish(FixtureHub(hub_root), sc.repo, sc.commit)
            extra = ["--external-cdn", nginx.start()]
            servers[(False, NGINX)] = start_subprocess_server(hub_root, args=extra)
            envs[NGINX] = env
        else:
            print("nginx not found and not installable (apt-get install nginx): skipped")
    try:
        for run in range(args.runs):
            for sc in scenarios:
                for suffix, tool_env in envs.items():
                    if (sc.wan, suffix) not in servers:
                        continue
                    server, url = servers[(sc.wan, suffix)]
                    pids = [server.pid] + (nginx.pids() if suffix == NGINX else [])
                    for tool in tools + (["sha256"] if not sc.wan and not suffix else []):
                        before = served(url, sc.repo, tool_env) if sc.wan else 0
                        result = run_tool(tool, sc, url, args.work / "out", tool_env, pids)
                        if sc.wan:
                            result.served = (served(url, sc.repo, tool_env) - before) / sc.total
                        sc.results.setdefault(tool + suffix, []).append(result)
                        speed = sc.total / result.seconds / 1e6
                        line = f"run {run + 1} ({sc.name}) {tool + suffix:<16} {speed:7.0f} MB/s"
                        print(f"{line}  {result.rss_mb:6.0f} MB RSS", flush=True)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait()
        nginx.stop()
    for sc in scenarios:
        report(sc, args.link)
    return 0


def ensure_aria2c() -> bool:
    """aria2c on PATH, installing Debian's aria2 first when run as root with apt-get."""
    return apt_install("aria2", lambda: shutil.which("aria2c") is not None)


def ensure_nginx() -> bool:
    """nginx installed, from Debian's package when run as root with apt-get."""
    from tests.hub.nginx import nginx_binary

    return apt_install("nginx", lambda: nginx_binary() is not None)


def apt_install(package: str, present: Callable[[], bool]) -> bool:
    """True once ``present()``, installing ``package`` first (apt-get, as root) if need be."""
    if present():
        return True
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    for command in (install, ["apt-get", "update", "-qq"], install):
        subprocess.run(command, env=env, capture_output=True)
        if present():
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
