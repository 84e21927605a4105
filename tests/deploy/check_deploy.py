#!/usr/bin/env python3
"""Checks of deploy/ (run by ctest, label "deploy"; see tests/CMakeLists.txt).

  check_deploy.py syntax   REPO          every YAML/JSON file parses; every alert is complete and
                                         its runbook anchor exists in docs/operations.md
  check_deploy.py promtool REPO          promtool check rules / test rules / check config, and
                                         every dashboard query parses as PromQL
  check_deploy.py binary   REPO DEEPKB   against the real binary: metric names, probe paths,
                                         ports, image name, serve flags, runtime packages

Each failure is printed with what to fix; the exit code is 1 if any check failed.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

try:
    import yaml
except ImportError:
    print("FAIL: the python3 yaml module is missing: run scripts/install-deps.sh (python3-yaml)")
    sys.exit(1)

# Names CONTRACT.md promises that the binary does not export yet. Each is reported as PENDING;
# once the binary exports one, the check fails until it is removed from this list.
PENDING_METRICS = {}
# Packages of every Debian image (Essential: yes), so the Dockerfile need not list them.
BASE_IMAGE_PACKAGES = {"libc6"}
IMAGE_REPO = "deepkb/deepkb"

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok:   " + msg)


def finish():
    print(f"{len(failures)} failed" if failures else "all checks passed")
    sys.exit(1 if failures else 0)


def deploy_files(root, exts):
    for d, _, files in os.walk(os.path.join(root, "deploy")):
        for f in sorted(files):
            if f.endswith(exts):
                yield os.path.join(d, f)


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def rel(root, path):
    return os.path.relpath(path, root)


# ---- syntax ------------------------------------------------------------------------------------

def github_anchor(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def check_syntax(root):
    n = 0
    for path in deploy_files(root, (".yml", ".yaml", ".json")):
        try:
            if path.endswith(".json"):
                with open(path, encoding="utf-8") as f:
                    json.load(f)
            else:
                load_yaml_docs(path)
            n += 1
        except Exception as e:  # any parse error names the file
            fail(f"{rel(root, path)} does not parse: {e}")
    if n == 0:
        fail("no YAML/JSON files found under deploy/")
    ok(f"{n} YAML/JSON files under deploy/ parse")

    with open(os.path.join(root, "docs", "operations.md"), encoding="utf-8") as f:
        ops = f.read()
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", ops, re.M)}
    rules = load_yaml_docs(os.path.join(root, "deploy", "prometheus", "rules.yml"))[0]
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    for a in alerts:
        name = a["alert"]
        if a.get("labels", {}).get("severity") not in ("warning", "critical"):
            fail(f"alert {name}: labels.severity must be warning or critical")
        ann = a.get("annotations", {})
        for k in ("summary", "description", "runbook_url"):
            if not ann.get(k):
                fail(f"alert {name}: annotation {k} is missing")
        url = ann.get("runbook_url", "")
        m = re.fullmatch(r"docs/operations\.md#([\w-]+)", url)
        if not m:
            fail(f"alert {name}: runbook_url must be docs/operations.md#<anchor>, is {url!r}")
        elif m.group(1) not in anchors:
            fail(f"alert {name}: docs/operations.md has no heading for #{m.group(1)} "
                 f"(add '### {name}' under '## Alerts')")
    ok(f"{len(alerts)} alerts have severity, summary, description and a runbook section")


# ---- promtool ----------------------------------------------------------------------------------

def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def check_promtool(root):
    promtool = shutil.which("promtool")
    if not promtool:
        fail("promtool not found: run scripts/install-deps.sh (Debian package prometheus)")
        return
    prom = os.path.join(root, "deploy", "prometheus")
    for args in (["check", "rules", "rules.yml"], ["test", "rules", "rules_test.yml"]):
        r = run([promtool] + args, cwd=prom)
        if r.returncode != 0:
            fail(f"promtool {' '.join(args)}:\n{r.stdout}")
        else:
            ok(f"promtool {' '.join(args)}")

    with tempfile.TemporaryDirectory() as tmp:
        # prometheus.yml names credential files under /run/secrets/ (compose secrets): point them
        # at empty files here so that promtool can check the rest.
        with open(os.path.join(prom, "prometheus.yml"), encoding="utf-8") as f:
            cfg = f.read().replace("/run/secrets/", tmp + "/secrets/")
        os.mkdir(os.path.join(tmp, "secrets"))
        for name in re.findall(re.escape(tmp) + r"/secrets/([\w.-]+)", cfg):
            open(os.path.join(tmp, "secrets", name), "w").close()
        with open(os.path.join(tmp, "prometheus.yml"), "w", encoding="utf-8") as f:
            f.write(cfg)
        shutil.copy(os.path.join(prom, "rules.yml"), tmp)
        r = run([promtool, "check", "config", "prometheus.yml"], cwd=tmp)
        if r.returncode != 0:
            fail(f"promtool check config prometheus.yml:\n{r.stdout}")
        else:
            ok("promtool check config prometheus.yml")

        # Every dashboard query must be valid PromQL: check them as recording rules.
        exprs = dashboard_exprs(root)
        queries = []
        for title, e in exprs:
            e = e.replace("$instance", ".*").replace("$__rate_interval", "5m")
            queries.append({"record": "dashboard:query", "expr": e})
        with open(os.path.join(tmp, "dashboard_rules.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": queries}]}, f)
        r = run([promtool, "check", "rules", "dashboard_rules.yml"], cwd=tmp)
        if r.returncode != 0 or not exprs:
            fail(f"dashboard queries are not valid PromQL ({len(exprs)} queries):\n{r.stdout}")
        else:
            ok(f"{len(exprs)} dashboard queries parse as PromQL")


def dashboard_exprs(root):
    with open(os.path.join(root, "deploy", "grafana", "deepkb-dashboard.json"), encoding="utf-8") as f:
        dash = json.load(f)
    out = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            out.append((p.get("title", "?"), t.get("expr", "")))
    return out


# ---- binary ------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, key=None):
    req = urllib.request.Request(url)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Server:
    """`deepkb serve` on a free loopback port with a fresh data directory."""

    def __init__(self, deepkb, data_dir, args):
        self.proc = subprocess.Popen(
            [deepkb, "--data-dir", data_dir, "--log-level", "warn", "serve",
             "--listen=127.0.0.1:0"] + args,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = ""
        self.port = None
        watchdog = threading.Timer(60, self.proc.kill)  # a server that hangs before serving
        watchdog.start()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output += line
            m = re.search(r"serving on https?://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        watchdog.cancel()
        if self.port is None:
            self.stop()
            raise RuntimeError("deepkb serve did not start:\n" + self.output)
        with open(os.path.join(data_dir, "admin.key"), encoding="utf-8") as f:
            self.key = f.read().strip()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def exported_metrics(text):
    """{family name: type} from the # TYPE lines, plus the sample names seen."""
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    samples = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", text, re.M))
    return families, samples


def metric_known(name, families, samples):
    if name in families or name in samples:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and families.get(base) == "histogram":
            return True
    return False


def k8s_objects(root):
    for path in deploy_files(root, (".yaml",)):
        if os.sep + "k8s" + os.sep in path:
            for d in load_yaml_docs(path):
                yield path, d


def pod_containers(obj):
    """(pod spec, container) pairs of a workload, any template nesting (LWS included)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                for c in node.get("initContainers", []) + node["containers"]:
                    found.append((node, c))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(obj.get("spec", {}))
    return found


def listen_of(args):
    """(host, port) of --listen in an argument list, or None."""
    for i, a in enumerate(args):
        if a.startswith("--listen="):
            v = a.split("=", 1)[1]
        elif a == "--listen" and i + 1 < len(args):
            v = args[i + 1]
        else:
            continue
        host, _, port = v.rpartition(":")
        return host, int(port)
    return None


def runnable_args(args, tmp):
    """`args` of a manifest made runnable here: compose ${VAR:-default} resolved, --listen
    dropped (the caller listens on a free loopback port), every URL pointed at a loopback port
    where nothing listens, every absolute file path replaced by a file in `tmp` (a 32-byte
    master key when its name says "master", else a dummy API key)."""
    files = {}

    def local_file(m):
        path = m.group(0)
        if path not in files:
            files[path] = os.path.join(tmp, f"file{len(files)}")
            with open(files[path], "wb") as f:
                f.write(os.urandom(32) if "master" in path else b"dkb_0000000000000000_0000\n")
            os.chmod(files[path], 0o600)
        return files[path]

    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--listen":
            skip = True
            continue
        if a.startswith("--listen="):
            continue
        a = re.sub(r"\$\{\w+(?::-([^}]*))?\}", lambda m: m.group(1) or "", a)
        a = re.sub(r"https?://[\w.-]+(?::\d+)?", lambda m: f"http://127.0.0.1:{free_port()}", a)
        a = re.sub(r"(?<![\w:/.])/[\w.-]+(?:/[\w.-]+)+", local_file, a)
        out.append(a)
    return out


def check_starts(deepkb, configs):
    """Each (where, args) starts `deepkb serve` (so flag values parse, files are read)."""
    before = len(failures)
    for where, args in configs:
        if not args or args[0] != "serve":
            fail(f"{where}: the deepkb command must be `serve ...`, is {args[:1]}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "data"))
            try:
                Server(deepkb, os.path.join(tmp, "data"), runnable_args(args[1:], tmp)).stop()
            except RuntimeError as e:
                fail(f"{where}: its deepkb command does not start here: {e}")
    if configs and len(failures) == before:
        ok(f"{len(configs)} deepkb commands of the manifests start: " +
           ", ".join(w for w, _ in configs))


def flags_of(args):
    return {a.split("=", 1)[0] for a in args if isinstance(a, str) and a.startswith("--")}


def dockerfile_facts(root):
    with open(os.path.join(root, "deploy", "docker", "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    joined = re.sub(r"\\\n", " ", text)
    runtime = joined[joined.rfind("\nFROM "):]  # the last stage
    pkgs = set()
    for m in re.finditer(r"apt-get install ([^&\n]*)", runtime):
        pkgs |= {t for t in m.group(1).split() if not t.startswith("-")}
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    expose = [int(p) for p in re.findall(r"^EXPOSE (\d+)", text, re.M)]
    health = re.findall(r"https?://127\.0\.0\.1:(\d+)(/\S*)", re.search(r"^HEALTHCHECK.*(?:\n .*)*", text, re.M).group(0))
    tags = re.findall(r"-t (\S+) \.", text)
    return pkgs, cmd, expose, health, tags


def runtime_packages(deepkb):
    """Debian packages of the shared libraries the binary links directly."""
    r = run(["readelf", "-d", deepkb])
    if r.returncode != 0:
        raise RuntimeError("readelf failed (binutils): " + r.stdout)
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", r.stdout)
    ldd = dict(re.findall(r"^\s*(\S+) => (\S+)", run(["ldd", deepkb]).stdout, re.M))
    pkgs = {}
    for lib in needed:
        path = ldd.get(lib)
        if not path:
            raise RuntimeError(f"ldd does not resolve {lib}")
        cands = [path, os.path.realpath(path)]
        cands += ["/usr" + c for c in cands if not c.startswith("/usr/")]
        owner = None
        for c in cands:
            q = run(["dpkg-query", "-S", c])
            if q.returncode == 0:
                owner = q.stdout.split(":")[0]
                break
        if owner is None:
            raise RuntimeError(f"no Debian package owns {path} ({lib}); the image cannot install it")
        pkgs[lib] = owner
    return pkgs


def check_binary(root, deepkb):
    help_text = run([deepkb, "--help"]).stdout + run([deepkb, "serve", "--help"]).stdout
    known_flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", help_text))

    # The gateway metrics (deepkb_llm_*) are registered only when an upstream is configured:
    # point one at a port where nothing listens.
    upstream = f"--upstream=probe=http://127.0.0.1:{free_port()},model=probe-model"
    with tempfile.TemporaryDirectory() as data:
        server = Server(deepkb, data, [upstream])
        try:
            status, text = http_get(server.url("/metrics"), server.key)
            probe_status = {}
            for path in ("/healthz", "/readyz"):
                probe_status[path] = http_get(server.url(path))[0]
            paths_used = collect_probe_paths(root)
            for path in sorted(paths_used):
                if path not in probe_status:
                    probe_status[path] = http_get(server.url(path))[0]
        finally:
            server.stop()
    if status != 200:
        fail(f"GET /metrics with the admin key answered {status}: {text[:300]}")
        return
    families, samples = exported_metrics(text)

    # 1. Metric names used anywhere under deploy/ exist in the scrape.
    used = {}
    for path in deploy_files(root, (".yml", ".yaml", ".json", ".md", "Dockerfile")):
        with open(path, encoding="utf-8") as f:
            for name in re.findall(r"\bdeepkb_[a-z0-9_]*[a-z0-9](?![\w*])", f.read()):
                used.setdefault(name, set()).add(rel(root, path))
    missing = 0
    for name in sorted(used):
        if metric_known(name, families, samples):
            if name in PENDING_METRICS:
                fail(f"{name} is exported now: remove it from PENDING_METRICS in {__file__}")
            continue
        if name in PENDING_METRICS:
            print(f"PENDING: {name} (exported after {PENDING_METRICS[name]}), used in "
                  f"{', '.join(sorted(used[name]))}")
            continue
        missing += 1
        fail(f"metric {name} (used in {', '.join(sorted(used[name]))}) is not exported by "
             f"deepkb serve: fix the name, or export it")
    if not used:
        fail("no deepkb_* metric names found under deploy/")
    elif missing == 0:
        ok(f"{len(used)} deepkb_* metric names used under deploy/ are exported (or pending)")

    frag = re.search(r"^deepkb_process_memory_fragmentation_ratio (\S+)$", text, re.M)
    if not frag or not 0.0 <= float(frag.group(1)) <= 1.0:
        fail("deepkb_process_memory_fragmentation_ratio must be exported with a value in [0, 1]")
    else:
        ok(f"deepkb_process_memory_fragmentation_ratio = {frag.group(1)}")

    # 2. Probe paths answer 200 without a key.
    for path, code in sorted(probe_status.items()):
        if path in paths_used and code != 200:
            fail(f"probe path {path} (used in {', '.join(sorted(paths_used[path]))}) answered {code}")
    if paths_used and all(probe_status[p] == 200 for p in paths_used):
        ok(f"probe paths {sorted(paths_used)} answer 200")
    if not paths_used:
        fail("no probe paths found in deploy/")

    check_starts(deepkb, check_manifests(root, known_flags))

    # 6. The runtime image installs the package of every library the binary links.
    pkgs, *_ = dockerfile_facts(root)
    try:
        needed = runtime_packages(deepkb)
    except RuntimeError as e:
        fail(str(e))
        return
    absent = {lib: p for lib, p in needed.items() if p not in pkgs | BASE_IMAGE_PACKAGES}
    for lib, p in sorted(absent.items()):
        fail(f"the binary links {lib} (package {p}) but the Dockerfile's runtime stage does not "
             f"install {p}")
    if not absent:
        ok(f"the runtime stage installs the packages of all {len(needed)} linked libraries")


def collect_probe_paths(root):
    """{path: {files}} of every HTTP probe aimed at a deepkb container."""
    paths = {}
    for path, obj in k8s_objects(root):
        for _, c in pod_containers(obj):
            if IMAGE_REPO not in str(c.get("image", "")):
                continue
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                get = c.get(probe, {}).get("httpGet")
                if get:
                    paths.setdefault(get["path"], set()).add(rel(root, path))
    for _, p in dockerfile_facts(root)[3]:
        paths.setdefault(p, set()).add("deploy/docker/Dockerfile")
    return paths


def check_manifests(root, known_flags):
    """Checks ports, probes, image names and flags; returns the (where, args) of every deepkb
    server command found (for check_starts)."""
    images = {}
    configs = []
    problems_before = len(failures)

    def flag_check(where, args):
        for flag in sorted(flags_of(args) - known_flags):
            fail(f"{where}: deepkb has no flag {flag} (see deepkb serve --help)")

    # Dockerfile: EXPOSE = --listen port = health check port.
    _, cmd, expose, health, tags = dockerfile_facts(root)
    listen = listen_of(cmd)
    if not listen or listen[0] != "0.0.0.0":
        fail("Dockerfile CMD must listen on 0.0.0.0 (--listen 0.0.0.0:PORT)")
    else:
        if expose != [listen[1]]:
            fail(f"Dockerfile EXPOSE {expose} differs from the --listen port {listen[1]}")
        for port, _ in health:
            if int(port) != listen[1]:
                fail(f"Dockerfile HEALTHCHECK uses port {port}, the server listens on {listen[1]}")
    flag_check("Dockerfile CMD", cmd)
    configs.append(("Dockerfile CMD", cmd))
    for t in tags:
        images.setdefault(t, set()).add("deploy/docker/Dockerfile")

    # docker-compose.yml: deepkb services.
    compose_path = os.path.join(root, "deploy", "docker", "docker-compose.yml")
    compose = load_yaml_docs(compose_path)[0]
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        if IMAGE_REPO not in image:
            continue
        images.setdefault(image, set()).add(f"docker-compose.yml service {name}")
        args = svc.get("command", cmd)
        flag_check(f"docker-compose.yml service {name}", args)
        configs.append((f"compose service {name}", args))
        lp = listen_of(args)
        if not lp or lp[0] != "0.0.0.0":
            fail(f"docker-compose.yml service {name} must pass --listen=0.0.0.0:PORT")
            continue
        for mapping in svc.get("ports", []):
            if int(str(mapping).rsplit(":", 1)[-1]) != lp[1]:
                fail(f"docker-compose.yml service {name}: port mapping {mapping} does not reach "
                     f"the --listen port {lp[1]}")

    # Prometheus scrapes the deepkb services on their --listen port.
    prom = load_yaml_docs(os.path.join(root, "deploy", "prometheus", "prometheus.yml"))[0]
    for job in prom["scrape_configs"]:
        if not job["job_name"].startswith("deepkb-"):
            continue
        for sc in job.get("static_configs", []):
            for target in sc["targets"]:
                host, _, port = target.rpartition(":")
                svc = compose["services"].get(host)
                lp = listen_of(svc.get("command", [])) if svc else None
                if not lp or lp[1] != int(port):
                    fail(f"prometheus.yml job {job['job_name']} scrapes {target}, which is not a "
                         f"deepkb service's --listen port in docker-compose.yml")

    # Kubernetes: deepkb containers listen on 0.0.0.0 and their ports and probes agree.
    for path, obj in k8s_objects(root):
        where = f"{rel(root, path)} {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
        if obj.get("kind") == "Kustomization":
            for img in obj.get("images", []):
                images.setdefault(f"{img['name']}:{img.get('newTag', 'latest')}", set()).add(where)
        for _, c in pod_containers(obj):
            image = str(c.get("image", ""))
            if IMAGE_REPO not in image:
                continue
            images.setdefault(image, set()).add(where)
            if "command" in c:  # a shell step (the seed init container), not the server
                continue
            args = c.get("args", [])
            flag_check(where, args)
            configs.append((f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}", args))
            lp = listen_of(args)
            if not lp or lp[0] != "0.0.0.0":
                fail(f"{where}: container {c['name']} must pass --listen=0.0.0.0:PORT")
                continue
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            if lp[1] not in ports.values():
                fail(f"{where}: containerPort {sorted(ports.values())} differs from --listen port {lp[1]}")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                get = c.get(probe, {}).get("httpGet")
                if get and ports.get(get["port"], get["port"]) != lp[1]:
                    fail(f"{where}: {probe} port {get['port']} is not the --listen port {lp[1]}")
            if not c.get("livenessProbe") or not c.get("readinessProbe"):
                fail(f"{where}: container {c['name']} needs a livenessProbe and a readinessProbe")

    # One image name everywhere.
    if len(images) != 1:
        listing = "; ".join(f"{i} in {', '.join(sorted(w))}" for i, w in sorted(images.items()))
        fail(f"the deepkb image must be named the same everywhere, found: {listing}")
    if len(failures) == problems_before:
        ok(f"image {next(iter(images))}, ports, probes and serve flags agree across Dockerfile, "
           f"compose, Prometheus and Kubernetes")
    return configs


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("syntax", "promtool", "binary"):
        print(__doc__)
        sys.exit(2)
    mode, root = sys.argv[1], os.path.abspath(sys.argv[2])
    if mode == "syntax":
        check_syntax(root)
    elif mode == "promtool":
        check_promtool(root)
    else:
        if len(sys.argv) < 4 or not os.access(sys.argv[3], os.X_OK):
            print("usage: check_deploy.py binary REPO PATH_TO_DEEPKB (an executable)")
            sys.exit(2)
        check_binary(root, sys.argv[3])
    finish()


if __name__ == "__main__":
    main()
