#!/usr/bin/python3
"""kapsel's start-path benchmark: the driver behind tests/bench/run.sh.

Gives kapsel and its peers (crun, runc, podman, containerd's ctr, and a bare unshare + chroot)
the same work on one busybox rootfs, interleaved run by run, and prints medians, p90 and the
ratio to kapsel; then the gRPC lifecycle, throughput, exec, ps and event latency, and memory.
Writes the whole result as JSON. `bench.py compare OLD.json NEW.json` prints before/after ratios.

Everything it creates lives under one work directory (its own kapseld, containerd and podman
state) and is removed at the end; processes it started are stopped by pid.
"""
import argparse
import ctypes
import datetime
import glob
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
IMAGE = "benchbox:1"
CTR_IMAGE = "docker.io/library/benchbox:1"
PODMAN_IMAGE = "localhost/benchbox:1"
CLONE_NEWNS = 0x00020000
CGROUP_NAMES = ("kbench", "libpod_parent", "kb-*")
libc = ctypes.CDLL(None, use_errno=True)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else None


def p90(xs):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def run(cmd, check=True, **kw):
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.run(cmd, **kw)
    if check and p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip() if p.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {err[-400:]}")
    return p


def timed(cmd):
    t0 = time.perf_counter_ns()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter_ns() - t0) / 1e6
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()[-400:]}")
    return ms


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return None


def pids_with(program, *needles):
    """Pids whose argv[0] ends in `program` and whose command line holds every needle."""
    found = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        argv0 = cmd.split(" ", 1)[0]
        if os.path.basename(argv0) == program and all(n in cmd for n in needles):
            found.append(int(d[6:]))
    return sorted(found)


def wait_for(pred, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class MountNs:
    """A mount namespace without /sys/fs/cgroup/unified, held by a sleeping process: crun 1.8
    refuses hybrid cgroups ("drop all controllers from cgroupv2"), so crun runs in it and sees
    the v1 controllers only. The driver enters it around each crun spawn (setns) so that crun's
    own time is measured without an extra exec."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             "umount /sys/fs/cgroup/unified 2>/dev/null; echo ok; exec sleep infinity"],
            stdout=subprocess.PIPE)
        self.proc.stdout.readline()
        self.pid = self.proc.pid
        self.fd = os.open(f"/proc/{self.pid}/ns/mnt", os.O_RDONLY)
        self.home = os.open("/proc/self/ns/mnt", os.O_RDONLY)

    def spawn_timed(self, cmd, cwd):
        if libc.setns(self.fd, CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            os.chdir(cwd)
            return timed(cmd)
        finally:
            libc.setns(self.home, CLONE_NEWNS)
            os.chdir(cwd)

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="kapsel-bench.", dir="/tmp")
        self.bin = args.bin
        self.cleanups = []
        self.result = {"meta": {}, "start": {}, "grpc": {}, "throughput": {}, "latency": {},
                       "memory": {}, "bridge": {}, "skipped": {}}
        self.available = {}

    # ---------- setup ----------
    def setup_rootfs(self):
        self.rootfs_tar = os.path.join(self.work, "rootfs.tar")
        run(["bash", os.path.join(SRC, "tests/fixtures/make-busybox-rootfs.sh"), self.rootfs_tar])
        self.bundle = os.path.join(self.work, "bundle")
        os.makedirs(self.bundle + "/rootfs")
        run(["tar", "-C", self.bundle + "/rootfs", "-xf", self.rootfs_tar])
        self.oci_tar = os.path.join(self.work, "oci.tar")
        run([sys.executable, os.path.join(HERE, "make_oci_archive.py"), self.rootfs_tar,
             self.oci_tar, CTR_IMAGE])

    def setup_bundle(self):
        # The bundle crun and runc run: runc spec's defaults (its namespaces, readonly root,
        # capabilities, masked paths), the process made `true` without a terminal.
        run(["runc", "spec"], cwd=self.bundle)
        path = os.path.join(self.bundle, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["process"]["args"] = ["true"]
        cfg["process"]["terminal"] = False
        with open(path, "w") as f:
            json.dump(cfg, f)

    def start_kapseld(self):
        k = os.path.join(self.work, "kapsel")
        self.ksock = os.path.join(k, "kapsel.sock")
        os.makedirs(k)
        self.kexec = os.path.join(k, "run")
        # kapseld's default bridge (kapsel0) and nftables table (ip kapsel) have fixed names, and
        # other kapselds (the e2e tests) may run beside this one: this kapseld gets a network
        # namespace of its own (unshare execs it, same pid), where they go away with it.
        cmd = ["unshare", "--net", "--", os.path.join(self.bin, "kapseld"), "--data-root", os.path.join(k, "data"),
               "--exec-root", self.kexec, "--socket", self.ksock, "--log-level", "warn",
               "--bridge-subnet", self.args.bridge_subnet, "--shim",
               os.path.join(self.bin, "kapsel-shim")]
        self.kapseld_log = open(os.path.join(k, "kapseld.log"), "w")
        self.kapseld = subprocess.Popen(cmd, stdout=self.kapseld_log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.cleanups.append(self.stop_kapseld)
        wait_for(lambda: os.path.exists(self.ksock) or self.kapseld.poll() is not None, 30,
                 "kapseld's socket")
        if self.kapseld.poll() is not None:
            raise RuntimeError(f"kapseld exited {self.kapseld.returncode}, see {k}/kapseld.log")
        self.kctl = [os.path.join(self.bin, "kapselctl"), "--socket", self.ksock]
        run(self.kctl + ["import", self.rootfs_tar, IMAGE, "--change",
                         'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                         "--change", 'CMD ["/bin/sh"]'])
        self.lb = [os.path.join(self.bin, "lifecycle_bench"), "--socket", self.ksock, "--image",
                   IMAGE]
        self.result["memory"]["kapseld RSS idle KiB"] = rss_kib(self.kapseld.pid)

    def stop_kapseld(self):
        try:
            run(self.lb + ["remove-all"], check=False, timeout=120)
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            log("remove-all:", e)
        if self.kapseld.poll() is None:
            self.kapseld.send_signal(signal.SIGTERM)
            try:
                self.kapseld.wait(30)
            except subprocess.TimeoutExpired:
                self.kapseld.kill()
                self.kapseld.wait()
        # Shims outlive kapseld by design; none should be left, stop any that is (by pid).
        for pid in pids_with("kapsel-shim", self.kexec):
            log(f"stopping leftover kapsel-shim {pid}")
            os.kill(pid, signal.SIGKILL)

    def start_containerd(self):
        c = os.path.join(self.work, "containerd")
        os.makedirs(c)
        self.csock = os.path.join(c, "containerd.sock")
        cfg = os.path.join(c, "config.toml")
        with open(cfg, "w") as f:
            f.write(f"""version = 2
root = "{c}/root"
state = "{c}/state"
[grpc]
  address = "{self.csock}"
[ttrpc]
  address = "{self.csock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
""")
        self.containerd = subprocess.Popen(
            ["containerd", "--config", cfg], stdout=open(c + "/log", "w"),
            stderr=subprocess.STDOUT, start_new_session=True)
        self.cleanups.append(self.stop_containerd)
        self.ctr = ["ctr", "-a", self.csock, "-n", "kbench"]
        wait_for(lambda: run(self.ctr + ["version"], check=False).returncode == 0, 30,
                 "containerd")
        run(self.ctr + ["images", "import", self.oci_tar])

    def stop_containerd(self):
        for task in run(self.ctr + ["task", "ls", "-q"], check=False,
                        stdout=subprocess.PIPE).stdout.decode().split():
            run(self.ctr + ["task", "kill", "-s", "SIGKILL", task], check=False)
            time.sleep(0.2)
            run(self.ctr + ["task", "delete", "-f", task], check=False)
        for cont in run(self.ctr + ["containers", "ls", "-q"], check=False,
                        stdout=subprocess.PIPE).stdout.decode().split():
            run(self.ctr + ["containers", "rm", cont], check=False)
        run(self.ctr + ["images", "rm", CTR_IMAGE], check=False)
        self.containerd.send_signal(signal.SIGTERM)
        try:
            self.containerd.wait(30)
        except subprocess.TimeoutExpired:
            self.containerd.kill()
            self.containerd.wait()
        for pid in pids_with("containerd-shim-runc-v2", self.csock):
            log(f"stopping leftover containerd-shim {pid}")
            os.kill(pid, signal.SIGKILL)
        for mnt in reversed(self.mounts_under(os.path.join(self.work, "containerd"))):
            run(["umount", "-l", mnt], check=False)

    def setup_podman(self):
        p = os.path.join(self.work, "podman")
        self.podman_dirs_made = [d for d in ("/var/lib/containers", "/run/containers")
                                 if not os.path.exists(d)]
        self.podman_base = ["podman", "--root", p + "/root", "--runroot", p + "/run",
                            "--tmpdir", p + "/tmp", "--cgroup-manager=cgroupfs",
                            "--events-backend=file", "--runtime", "runc"]
        # Without CAP_SYS_RESOURCE here, podman's default rlimits (nofile 1048576, nproc) cannot
        # be set: give it limits below the host's hard ones.
        self.podman_run = self.podman_base + ["run", "--rm", "--ulimit", "nofile=1024:1024",
                                              "--ulimit", "nproc=4096:4096"]
        self.cleanups.append(self.stop_podman)
        run(self.podman_base + ["import", self.rootfs_tar, PODMAN_IMAGE])

    def stop_podman(self):
        self.stop_podman_containers()
        # conmon runs `podman container cleanup` (its exit command) after a container ends, which
        # may still be going; it recreates /var/lib/containers/cache if not waited for.
        ours = os.path.join(self.work, "podman")
        try:
            wait_for(lambda: not pids_with("conmon", ours) and not pids_with("podman", ours), 15,
                     "podman's cleanup processes")
        except RuntimeError as e:
            log(e)
        if pids_with("conmon") or pids_with("podman"):
            log("another podman runs: leaving netavark's iptables chains alone")
            return
        # netavark (podman's bridge) leaves its chains in iptables' nat and filter tables, and
        # podman its state directories even with --root/--runroot elsewhere.
        for table in ("nat", "filter"):
            rules = run(["iptables", "-t", table, "-S"], check=False,
                        stdout=subprocess.PIPE).stdout.decode().splitlines()
            for rule in rules:
                words = shlex.split(rule)
                if words[:1] == ["-A"] and "NETAVARK" in rule and "NETAVARK" not in words[1]:
                    run(["iptables", "-t", table, "-D"] + words[1:], check=False)
            for rule in rules:
                words = shlex.split(rule)
                if words[:1] == ["-N"] and "NETAVARK" in words[1]:
                    run(["iptables", "-t", table, "-F", words[1]], check=False)
            for rule in rules:
                words = shlex.split(rule)
                if words[:1] == ["-N"] and "NETAVARK" in words[1]:
                    run(["iptables", "-t", table, "-X", words[1]], check=False)
        for d in self.podman_dirs_made:
            shutil.rmtree(d, ignore_errors=True)

    def stop_podman_containers(self):
        run(self.podman_base + ["rm", "-a", "-f", "-t", "0"], check=False)
        run(self.podman_base + ["rmi", "-a", "-f"], check=False)
        for pid in pids_with("conmon", os.path.join(self.work, "podman")):
            os.kill(pid, signal.SIGKILL)
        run(self.podman_base + ["system", "reset", "-f"], check=False)
        for mnt in reversed(self.mounts_under(os.path.join(self.work, "podman"))):
            run(["umount", "-l", mnt], check=False)

    def mounts_under(self, prefix):
        out = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4]
                if mp.startswith(prefix):
                    out.append(mp)
        return out

    def probe(self, name, fn):
        try:
            fn()
            self.available[name] = True
        except Exception as e:  # noqa: BLE001 - a peer that cannot run here is skipped
            reason = str(e).strip().splitlines()[-1][:300] if str(e).strip() else repr(e)
            self.available[name] = False
            self.result["skipped"][name] = reason
            log(f"skipping {name}: {reason}")

    # ---------- the start path, interleaved ----------
    def tools(self):
        t = {}
        t["kapsel none"] = lambda i: timed(self.kctl + ["run", "--rm", "--network", "none",
                                                        IMAGE, "true"])
        t["kapsel bridge"] = lambda i: timed(self.kctl + ["run", "--rm", IMAGE, "true"])
        t["kapsel gRPC none"] = self.grpc_once
        if self.available.get("crun"):
            t["crun run"] = lambda i: self.crun_ns.spawn_timed(
                ["crun", "run", "--bundle", self.bundle, f"kb-crun-{i}"], self.work)
        if self.available.get("runc"):
            t["runc run"] = lambda i: timed(["runc", "run", "--bundle", self.bundle,
                                             f"kb-runc-{i}"])
        if self.available.get("podman"):
            t["podman none"] = lambda i: timed(self.podman_run + ["--network", "none",
                                                                  PODMAN_IMAGE, "true"])
            if not self.args.no_podman_bridge:
                t["podman bridge"] = lambda i: timed(self.podman_run + [PODMAN_IMAGE, "true"])
        if self.available.get("containerd"):
            t["ctr run --rm"] = lambda i: timed(self.ctr + ["run", "--rm", CTR_IMAGE,
                                                            f"kb-ctr-{i}", "true"])
        t["unshare+chroot floor"] = lambda i: timed(
            ["unshare", "-p", "-m", "-n", "-u", "-i", "--fork", "chroot",
             self.bundle + "/rootfs", "/bin/true"])
        return t

    def grpc_once(self, i):
        p = run(self.lb + ["lifecycle", "--iterations", "1", "--network", "none"],
                stdout=subprocess.PIPE)
        r = json.loads(p.stdout)
        for phase in ("create_ms", "start_ms", "wait_ms", "remove_ms"):
            self.result["grpc"].setdefault(phase, []).extend(r[phase])
        return r["total_ms"][0]

    def start_path(self):
        tools = self.tools()
        samples = {name: [] for name in tools}
        log(f"start path: {len(tools)} tools, {self.args.warmup} warm-up + "
            f"{self.args.iterations} interleaved rounds")
        for i in range(self.args.warmup):
            for name, fn in tools.items():
                fn(f"w{i}")
        self.result["grpc"] = {}
        for i in range(self.args.iterations):
            for name, fn in tools.items():
                samples[name].append(fn(i))
            if (i + 1) % 10 == 0:
                log(f"  round {i + 1}/{self.args.iterations}")
        for name, xs in samples.items():
            self.result["start"][name] = {"median_ms": median(xs), "p90_ms": p90(xs),
                                          "samples_ms": [round(x, 3) for x in xs]}
        self.result["grpc"] = {k: {"median_ms": median(v), "p90_ms": p90(v)}
                               for k, v in self.result["grpc"].items()}

    # ---------- throughput ----------
    def cli_loop_seconds(self, clients, per_client, cmd_fmt, ns=None):
        script = f'for i in $(seq {per_client}); do {cmd_fmt} >/dev/null || exit 1; done'
        t0 = time.perf_counter()
        procs = []
        for c in range(clients):
            cmd = ["bash", "-c", script.replace("@C@", str(c))]
            if ns is not None:
                cmd = ["nsenter", "--target", str(ns.pid), "--mount", "--"] + cmd
            procs.append(subprocess.Popen(cmd, stderr=subprocess.PIPE))
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"throughput loop failed: {err.decode()[-300:]}")
        return time.perf_counter() - t0

    def throughput(self):
        total = self.args.throughput_containers
        out = self.result["throughput"]
        for clients in (1, 2, 8):
            per = max(1, total // clients)
            p = run(self.lb + ["throughput", "--clients", str(clients), "--iterations", str(per)],
                    stdout=subprocess.PIPE)
            out[f"kapsel gRPC x{clients}"] = json.loads(p.stdout)["per_second"]
            log(f"throughput kapsel gRPC x{clients}: {out[f'kapsel gRPC x{clients}']:.1f}/s")
        kctl = " ".join(self.kctl)
        for clients in (1, 2, 8):
            per = max(1, total // clients)
            s = self.cli_loop_seconds(clients, per,
                                      f"{kctl} run --rm --network none {IMAGE} true")
            out[f"kapsel CLI x{clients}"] = clients * per / s
        if self.available.get("crun"):
            for clients in (1, 2, 8):
                per = max(1, total // clients)
                s = self.cli_loop_seconds(
                    clients, per, f"crun run --bundle {self.bundle} kb-tc-@C@-$i", ns=self.crun_ns)
                out[f"crun x{clients}"] = clients * per / s
        if self.available.get("runc"):
            for clients in (1, 2, 8):
                per = max(1, total // clients)
                s = self.cli_loop_seconds(clients, per,
                                          f"runc run --bundle {self.bundle} kb-tr-@C@-$i")
                out[f"runc x{clients}"] = clients * per / s

    # ---------- latencies ----------
    def latencies(self):
        lat = self.result["latency"]
        n = str(self.args.iterations)
        r = json.loads(run(self.lb + ["exec", "--iterations", n], stdout=subprocess.PIPE).stdout)
        lat["exec"] = {"median_ms": median(r["exec_ms"]), "p90_ms": p90(r["exec_ms"])}
        r = json.loads(run(self.lb + ["events", "--iterations", n], stdout=subprocess.PIPE).stdout)
        lat["event exit->subscriber"] = {"median_ms": median(r["event_ms"]),
                                         "p90_ms": p90(r["event_ms"])}
        r = json.loads(run(self.lb + ["list", "--containers", str(self.args.ps_containers),
                                      "--iterations", "20"], stdout=subprocess.PIPE).stdout)
        lat[f"ps (List) with {r['containers']} containers"] = {
            "median_ms": median(r["list_ms"]), "p90_ms": p90(r["list_ms"]),
            "listed": r["listed"], "create_seconds": r["create_seconds"]}
        # The CLI's own floor: a process start and one small RPC.
        xs = [timed(self.kctl + ["version"]) for _ in range(self.args.iterations)]
        lat["kapselctl version (1 RPC)"] = {"median_ms": median(xs), "p90_ms": p90(xs)}
        # The same through the CLI, which is what people type.
        xs = []
        p = run(self.kctl + ["run", "-d", "--network", "none", IMAGE, "sleep", "3600"],
                stdout=subprocess.PIPE)
        cid = p.stdout.decode().strip()
        for _ in range(self.args.iterations):
            xs.append(timed(self.kctl + ["exec", cid, "true"]))
        run(self.kctl + ["rm", "-f", cid])
        lat["kapselctl exec"] = {"median_ms": median(xs), "p90_ms": p90(xs)}
        if self.available.get("runc"):
            xs = []
            try:
                # The detached container keeps runc's stdio: give it no pipe to wait on.
                run(["runc", "run", "-d", "--bundle", self.bundle_sleep(), "kb-exec"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL)
                for _ in range(self.args.iterations):
                    xs.append(timed(["runc", "exec", "kb-exec", "true"]))
            finally:
                run(["runc", "kill", "kb-exec", "KILL"], check=False)
                time.sleep(0.2)
                run(["runc", "delete", "-f", "kb-exec"], check=False)
            lat["runc exec"] = {"median_ms": median(xs), "p90_ms": p90(xs)}

    def bundle_sleep(self):
        b = os.path.join(self.work, "bundle-sleep")
        if not os.path.exists(b):
            os.makedirs(b)
            with open(self.bundle + "/config.json") as f:
                cfg = json.load(f)
            cfg["root"]["path"] = self.bundle + "/rootfs"
            cfg["process"]["args"] = ["sleep", "3600"]
            with open(b + "/config.json", "w") as f:
                json.dump(cfg, f)
        return b

    # ---------- memory ----------
    def memory(self):
        mem = self.result["memory"]
        mem["kapseld RSS KiB after the runs above, idle"] = rss_kib(self.kapseld.pid)
        # One running container of each: the monitor's PSS while it is the only one.
        ids = run(self.lb + ["start-many", "--containers", "1"],
                  stdout=subprocess.PIPE).stdout.decode().split()
        time.sleep(0.5)
        shims = pids_with("kapsel-shim", self.kexec)
        mem["kapsel-shim PSS KiB (1 running)"] = pss_kib(shims[0]) if shims else None
        mem["kapsel-shim RSS KiB (1 running)"] = rss_kib(shims[0]) if shims else None
        n = self.args.containers
        t0 = time.perf_counter()
        ids += run(self.lb + ["start-many", "--containers", str(n - 1)],
                   stdout=subprocess.PIPE).stdout.decode().split()
        mem[f"seconds to start {n} containers"] = time.perf_counter() - t0
        time.sleep(1)
        shims = pids_with("kapsel-shim", self.kexec)
        mem["running containers"] = len(ids)
        mem["kapsel-shims found"] = len(shims)
        mem[f"kapseld RSS KiB ({n} running)"] = rss_kib(self.kapseld.pid)
        psses = [pss_kib(p) for p in shims]
        mem[f"kapsel-shim PSS KiB median ({n} running)"] = median(psses)
        run(self.lb + ["remove-all"])
        mem["kapseld RSS KiB after removing them"] = rss_kib(self.kapseld.pid)
        if self.available.get("podman"):
            try:
                p = run(self.podman_base + ["run", "-d", "--network", "none", "--ulimit",
                                            "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
                                            PODMAN_IMAGE, "sleep", "3600"], stdout=subprocess.PIPE)
                cid = p.stdout.decode().strip()
                conmon = int(run(self.podman_base + ["inspect", "--format",
                                                     "{{.State.ConmonPid}}", cid],
                                 stdout=subprocess.PIPE).stdout.decode().strip())
                time.sleep(0.5)
                mem["conmon PSS KiB (1 running)"] = pss_kib(conmon)
                mem["conmon RSS KiB (1 running)"] = rss_kib(conmon)
                run(self.podman_base + ["rm", "-f", "-t", "0", cid])
            except Exception as e:  # noqa: BLE001
                mem["conmon PSS KiB (1 running)"] = None
                log("conmon memory:", e)
        if self.available.get("containerd"):
            try:
                mem["containerd RSS KiB"] = rss_kib(self.containerd.pid)
                run(self.ctr + ["run", "-d", CTR_IMAGE, "kb-mem", "sleep", "3600"],
                    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
                time.sleep(0.5)
                shims = pids_with("containerd-shim-runc-v2", self.csock)
                mem["containerd-shim PSS KiB (1 running)"] = pss_kib(shims[0]) if shims else None
                mem["containerd-shim RSS KiB (1 running)"] = rss_kib(shims[0]) if shims else None
                mem["containerd RSS KiB (1 running)"] = rss_kib(self.containerd.pid)
                run(self.ctr + ["task", "kill", "-s", "SIGKILL", "kb-mem"], check=False)
                time.sleep(0.3)
                run(self.ctr + ["task", "delete", "-f", "kb-mem"], check=False)
                run(self.ctr + ["containers", "rm", "kb-mem"], check=False)
            except Exception as e:  # noqa: BLE001
                log("containerd-shim memory:", e)

    # ---------- the network alone ----------
    def bridge(self):
        """bridge_bench: NetworkManager's Prepare + Release per network mode, in a network
        namespace of its own (it needs no kapseld)."""
        exe = os.path.join(self.bin, "bridge_bench")
        if self.args.bridge_iterations <= 0:
            return
        if not os.path.exists(exe):
            self.result["skipped"]["bridge_bench"] = f"no {exe}"
            return
        out = os.path.join(self.work, "bridge.json")
        log(f"bridge_bench: {self.args.bridge_iterations} rounds")
        run([exe, "--iterations", str(self.args.bridge_iterations), "--json", out])
        with open(out) as f:
            self.result["bridge"] = json.load(f)

    # ---------- main ----------
    def cgroups_named(self, names):
        found = []
        for root in glob.glob("/sys/fs/cgroup/*/"):
            for name in names:
                found += glob.glob(os.path.join(root, name))
        return found

    def remove_cgroups(self, paths):
        # containerd (its namespace, kbench) and podman (libpod_parent) leave empty cgroups
        # behind; remove the ones this run made, deepest first, in every hierarchy.
        for top in paths:
            for d, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(d)
                except OSError as e:
                    log(f"cgroup {d}: {e}")

    def go(self):
        cgroups_before = set(self.cgroups_named(CGROUP_NAMES))
        load = os.getloadavg()
        self.result["meta"] = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "kernel": os.uname().release, "cpus": os.cpu_count(),
            "loadavg_at_start": load, "iterations": self.args.iterations,
            "git": run(["git", "-C", SRC, "describe", "--always", "--dirty"], check=False,
                       stdout=subprocess.PIPE).stdout.decode().strip(),
            "kapsel_bin": self.bin, "label": self.args.label}
        try:
            self.setup_rootfs()
            self.probe("runc", lambda: (self.setup_bundle(),
                                        run(["runc", "run", "--bundle", self.bundle, "kb-probe"])))
            if not os.path.exists(self.bundle + "/config.json"):
                self.setup_bundle_without_runc()
            self.crun_ns = None

            def crun_probe():
                self.crun_ns = MountNs()
                self.cleanups.append(self.crun_ns.close)
                self.crun_ns.spawn_timed(["crun", "run", "--bundle", self.bundle, "kb-probe"],
                                         self.work)
            self.probe("crun", crun_probe)
            self.start_kapseld()
            self.probe("containerd", self.start_containerd)
            if self.available["containerd"]:
                self.probe("containerd", lambda: run(self.ctr + ["run", "--rm", CTR_IMAGE,
                                                                 "kb-probe", "true"]))
            self.probe("podman", lambda: (self.setup_podman(), run(self.podman_run + [
                "--network", "none", PODMAN_IMAGE, "true"])))
            self.start_path()
            self.throughput()
            self.latencies()
            self.memory()
            self.bridge()
            self.result["meta"]["loadavg_at_end"] = os.getloadavg()
        finally:
            for fn in reversed(self.cleanups):
                try:
                    fn()
                except Exception as e:  # noqa: BLE001 - cleanup goes on
                    log("cleanup:", e)
            for mnt in reversed(self.mounts_under(self.work)):
                run(["umount", "-l", mnt], check=False)
            self.remove_cgroups(sorted(set(self.cgroups_named(CGROUP_NAMES)) - cgroups_before))
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)
        return self.result

    def setup_bundle_without_runc(self):
        raise RuntimeError("runc spec is needed to write the bundle's config.json")


# ---------- output ----------
def fmt(x, unit=""):
    if x is None:
        return "-"
    return f"{x:.1f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def table(result):
    lines = []
    start = result["start"]
    ref = start.get("kapsel none", {}).get("median_ms")
    lines.append(f"start path: `true` in a busybox rootfs, {result['meta']['iterations']} "
                 "interleaved runs each (ms)")
    lines.append(f"  {'tool':<24}{'median':>9}{'p90':>9}{'x kapsel':>10}")
    for name, r in start.items():
        ratio = r["median_ms"] / ref if ref else None
        lines.append(f"  {name:<24}{r['median_ms']:>9.1f}{r['p90_ms']:>9.1f}"
                     f"{(f'{ratio:.2f}' if ratio else '-'):>10}")
    for name, reason in result.get("skipped", {}).items():
        lines.append(f"  {name:<24} skipped: {reason}")
    if result.get("grpc"):
        lines.append("kapsel gRPC lifecycle phases (ms, median / p90): " + ", ".join(
            f"{k[:-3]} {v['median_ms']:.1f}/{v['p90_ms']:.1f}" for k, v in result["grpc"].items()))
    if result.get("throughput"):
        lines.append("throughput (containers/s): " + ", ".join(
            f"{k} {v:.1f}" for k, v in result["throughput"].items()))
    if result.get("latency"):
        lines.append("latency (ms, median / p90):")
        for k, v in result["latency"].items():
            lines.append(f"  {k:<34}{fmt(v.get('median_ms')):>8} /{fmt(v.get('p90_ms')):>7}")
    modes = result.get("bridge", {}).get("modes", {})
    if modes:
        lines.append("network Prepare / Release / both, bridge_bench "
                     f"({result['bridge']['iterations']} rounds; ms, median / p90):")
        for mode, phases in modes.items():
            lines.append(f"  {mode:<10}" + "".join(
                f"{phases[p]['median_ms']:>9.1f} /{phases[p]['p90_ms']:>7.1f}"
                for p in ("prepare", "release", "total")))
    if result.get("memory"):
        lines.append("memory:")
        for k, v in result["memory"].items():
            lines.append(f"  {k:<44}{fmt(v):>10}")
    lines += targets(result)
    return "\n".join(lines)


def targets(result):
    s = {k: v["median_ms"] for k, v in result["start"].items()}
    t = result.get("throughput", {})
    m = result.get("memory", {})
    lat = result.get("latency", {})
    out = ["issue 9 targets:"]

    def check(name, value, limit, text):
        if value is None:
            out.append(f"  [n/a ] {name}: {text}")
            return
        ok = value <= limit
        out.append(f"  [{'met ' if ok else 'MISS'}] {name}: {value:.2f} (target <= {limit}) {text}")

    k = s.get("kapsel none")
    if k and s.get("crun run"):
        check("kapsel none / crun run", k / s["crun run"], 1.0, "")
    if k and s.get("unshare+chroot floor"):
        check("kapsel none / floor", k / s["unshare+chroot floor"], 3.0, "")
    if k and s.get("kapsel bridge"):
        check("bridge overhead over none", s["kapsel bridge"] / k - 1, 0.5, "(fraction)")
    if t.get("kapsel CLI x2") and t.get("crun x2"):
        check("crun x2 / kapsel CLI x2 throughput", t["crun x2"] / t["kapsel CLI x2"], 0.5,
              "(kapsel needs >= 2x crun)")
    if t.get("kapsel gRPC x2") and t.get("crun x2"):
        check("crun x2 / kapsel gRPC x2 throughput", t["crun x2"] / t["kapsel gRPC x2"], 0.5,
              "(kapsel needs >= 2x crun)")
    if m.get("kapsel-shim PSS KiB (1 running)"):
        check("kapsel-shim PSS MiB", m["kapsel-shim PSS KiB (1 running)"] / 1024, 0.5, "")
    if m.get("kapseld RSS idle KiB"):
        check("kapseld RSS idle MiB", m["kapseld RSS idle KiB"] / 1024, 15, "")
    n = [key for key in m if key.startswith("kapseld RSS KiB (") and "running" in key]
    if n:
        check(f"{n[0].replace('KiB', 'MiB')}", m[n[0]] / 1024, 40, "(target at 100)")
    ev = lat.get("event exit->subscriber", {}).get("median_ms")
    check("event exit->subscriber ms", ev, 5, "")
    return out


def compare(old, new):
    lines = [f"compare: old {old['meta'].get('label') or old['meta'].get('git')} "
             f"({old['meta'].get('date')}) -> new {new['meta'].get('label') or new['meta'].get('git')} "
             f"({new['meta'].get('date')}); ratio new/old (< 1 is faster / smaller)"]

    def row(name, a, b):
        if a is None or b is None or a == 0:
            return
        lines.append(f"  {name:<48}{a:>10.1f}{b:>10.1f}{b / a:>8.2f}")

    for name in new["start"]:
        if name in old["start"]:
            row(f"start {name} median ms", old["start"][name]["median_ms"],
                new["start"][name]["median_ms"])
    for name in new.get("grpc", {}):
        if name in old.get("grpc", {}):
            row(f"gRPC {name[:-3]} median ms", old["grpc"][name]["median_ms"],
                new["grpc"][name]["median_ms"])
    for name in new.get("throughput", {}):
        if name in old.get("throughput", {}):
            row(f"throughput {name} /s", old["throughput"][name], new["throughput"][name])
    for name in new.get("latency", {}):
        if name in old.get("latency", {}):
            row(f"latency {name} median ms", old["latency"][name].get("median_ms"),
                new["latency"][name].get("median_ms"))
    for mode, phases in new.get("bridge", {}).get("modes", {}).items():
        if mode in old.get("bridge", {}).get("modes", {}):
            row(f"network {mode} prepare+release median ms",
                old["bridge"]["modes"][mode]["total"]["median_ms"], phases["total"]["median_ms"])
    for name in new.get("memory", {}):
        if name in ("running containers", "kapsel-shims found"):
            continue
        if name in old.get("memory", {}) and isinstance(new["memory"][name], (int, float)):
            row(f"memory {name}", old["memory"][name], new["memory"][name])
    return "\n".join(lines)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "compare":
        with open(sys.argv[2]) as a, open(sys.argv[3]) as b:
            print(compare(json.load(a), json.load(b)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="directory with kapseld, kapselctl, "
                    "kapsel-shim, lifecycle_bench and bridge_bench")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--containers", type=int, default=100,
                    help="running containers for the memory figures")
    ap.add_argument("--ps-containers", type=int, default=1000,
                    help="created containers in the store while ps is timed")
    ap.add_argument("--throughput-containers", type=int, default=40,
                    help="containers per throughput measurement")
    ap.add_argument("--bridge-subnet", default="10.213.77.0/24")
    ap.add_argument("--bridge-iterations", type=int, default=200,
                    help="rounds of bridge_bench (network Prepare + Release per mode); 0: none")
    ap.add_argument("--no-podman-bridge", action="store_true")
    ap.add_argument("--out", help="JSON result file")
    ap.add_argument("--compare", help="an earlier JSON result to compare with")
    ap.add_argument("--label", default="", help="a name for this build in the JSON")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    result = Bench(args).go()
    out = args.out or datetime.datetime.now().strftime("/var/tmp/kapsel-bench-%Y%m%d-%H%M%S.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(table(result))
    print(f"JSON: {out}")
    if args.compare:
        with open(args.compare) as f:
            print(compare(json.load(f), result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
