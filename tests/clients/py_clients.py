#!/usr/bin/env python3
"""Drives the real py-eureka-client (PyPI, pinned in requirements.txt) against a rollcall server.

Two client objects register two instances of PY-SVC, heartbeat every second, discover the
instances of JS-SVC (registered concurrently by js_clients.js) through the client's own registry
(`applications.get_application(..).up_instances`, `walk_nodes`, the XML reads of eureka_basic),
take one instance OUT_OF_SERVICE with `status_update` and back with `delete_status_override`,
and deregister with `stop()`. Every step is asserted against the server's JSON and against DNS.

The two scripts and the Rust harness (tests/it/eureka_clients.rs) meet through marker files in
--sync DIR: this script writes py.registered, py.discovered, py.oos, py.restored,
py.ready-to-stop and py.stopped; it waits for js.discovered, js.saw-oos and js.ready-to-stop, and with --hold
also for harness.saw-registered, harness.saw-oos and go-stop (written by the harness after its own DNS checks).

Exit status 0 when everything held, 1 with a line starting "FAIL [py]" otherwise.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request

try:
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import py_eureka_client.eureka_basic as eureka_basic
    import py_eureka_client.logger as eureka_logger
    from py_eureka_client.eureka_client import EurekaClient
except ImportError as e:  # pragma: no cover - reported to the harness
    print(
        f"FAIL [py]: cannot import the client packages ({e}); "
        "install them with `pip install -r tests/clients/requirements.txt` (.ci/run does)",
        file=sys.stderr,
    )
    sys.exit(2)

APP = "PY-SVC"
PEER_APP = "JS-SVC"
# (instance id or "" for the client's default `ip:app:port`, ip, port)
INSTANCES = [("py-svc-1", "127.0.10.1", 8101), ("", "127.0.10.2", 8102)]
PEER_INSTANCES = {("127.0.20.1", 9001), ("127.0.20.2", 9002)}


class Failure(Exception):
    pass


def log(msg):
    print(f"[py {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class GuardedClient(EurekaClient):
    """py-eureka-client with two of its threading hazards fenced off, so that what is tested is
    the server and not the client's thread races.

    The client heartbeats (and fetches deltas) on its own thread with its own event loop, sharing
    one asyncio.Lock with calls made on the caller's loop; and that thread never ends: `stop()`
    cancels a Timer that has long fired, so a heartbeat after `stop()` finds the client not
    alive and registers the instance again. Here every heartbeat round and every call from the
    test holds one threading.Lock, and after `stop()` heartbeat rounds do nothing.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = threading.Lock()
        self.stopped = False
        self.heartbeat_rounds = 0

    # The heartbeat thread calls `self.__heartbeat()`, i.e. this name.
    async def _EurekaClient__heartbeat(self):
        with self.guard:
            if self.stopped:
                return
            self.heartbeat_rounds += 1
            await EurekaClient._EurekaClient__heartbeat(self)

    async def guarded(self, fn, *args):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.guard.acquire)
        try:
            return await fn(*args)
        finally:
            self.guard.release()

    async def stop_for_good(self):
        async def run():
            self.stopped = True
            await self.stop()

        await self.guarded(run)


class Harness:
    def __init__(self, args):
        self.eureka = args.eureka.rstrip("/")
        host, port = args.dns.rsplit(":", 1)
        self.dns_host, self.dns_port = host, int(port)
        self.zone = args.zone.rstrip(".")
        self.sync = args.sync
        self.hold = args.hold
        self.timeout = args.timeout
        self.clients = []
        self.errors = []
        self.phase = "start"

    # ---- plumbing -------------------------------------------------------------------------
    def mark(self, name):
        path = os.path.join(self.sync, name)
        with open(path + ".tmp", "w") as f:
            f.write(str(time.time()))
        os.replace(path + ".tmp", path)
        log(f"marker {name}")

    async def wait_marker(self, name):
        path = os.path.join(self.sync, name)
        deadline = time.monotonic() + self.timeout * 2
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise Failure(f"timed out after {self.timeout * 2}s waiting for marker {name}")
            await asyncio.sleep(0.1)

    async def eventually(self, what, probe):
        """Polls `probe` (returns (ok, observed)) until ok or the timeout."""
        deadline = time.monotonic() + self.timeout
        observed = None
        while time.monotonic() < deadline:
            ok, observed = await probe()
            if ok:
                return observed
            await asyncio.sleep(0.2)
        raise Failure(f"timed out after {self.timeout}s waiting until {what}; last observed: {observed}")

    async def http(self, method, path, accept="application/json"):
        """Raw request to the server (not through the client): (status, parsed JSON or text)."""

        def run():
            req = urllib.request.Request(self.eureka + path, method=method, headers={"Accept": accept})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    body = r.read().decode()
                    status = r.status
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode(errors="replace")
            if body and "json" in accept:
                try:
                    return status, json.loads(body)
                except ValueError as e:
                    raise Failure(f"{method} {path}: body is not JSON ({e}): {body[:300]}")
            return status, body

        return await asyncio.get_running_loop().run_in_executor(None, run)

    async def server_instances(self, app):
        status, doc = await self.http("GET", f"/apps/{app}")
        if status == 404:
            return []
        check(status == 200, f"GET /apps/{app} answered {status}: {doc}")
        instances = doc["application"]["instance"]
        check(isinstance(instances, list), f"GET /apps/{app}: `instance` is not an array: {doc}")
        return instances

    async def server_instance(self, app, instance_id):
        from urllib.parse import quote

        status, doc = await self.http("GET", f"/apps/{app}/{quote(instance_id, safe='')}")
        if status == 404:
            return None
        check(status == 200, f"GET /apps/{app}/{instance_id} answered {status}: {doc}")
        return doc["instance"]

    def dns_a(self, name):
        """(rcode name, sorted addresses) of an A query to rollcall's DNS listener."""
        q = dns.message.make_query(f"{name}.{self.zone}.", dns.rdatatype.A)
        r = dns.query.udp(q, self.dns_host, port=self.dns_port, timeout=3)
        addrs = sorted(rd.address for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A)
        return dns.rcode.to_text(r.rcode()), addrs

    async def dns_answers(self, name, expected):
        async def probe():
            rcode, addrs = self.dns_a(name)
            if expected:
                return (rcode == "NOERROR" and addrs == sorted(expected)), (rcode, addrs)
            return rcode == "NXDOMAIN", (rcode, addrs)

        await self.eventually(f"DNS {name}.{self.zone} A answers {expected or 'NXDOMAIN'}", probe)

    # ---- the scenario -------------------------------------------------------------------------
    async def run(self):
        eureka_logger.set_custom_logger(self.client_logger())

        # 1. Register: one client object per instance.
        for iid, ip, port in INSTANCES:
            client = GuardedClient(
                eureka_server=self.eureka,
                app_name=APP.lower(),  # the client upper-cases it
                instance_id=iid,
                instance_host=ip,
                instance_ip=ip,
                instance_port=port,
                renewal_interval_in_secs=1,
                duration_in_secs=10,
                metadata={"client": "py-eureka-client"},
                on_error=lambda kind, e, ip=ip: self.record_error(ip, kind, e),
            )
            await client.start()
            self.clients.append(client)
        ids = [iid or f"{ip}:{APP.lower()}:{port}" for iid, ip, port in INSTANCES]
        self.ids = ids
        ips = [ip for _, ip, _ in INSTANCES]

        instances = await self.server_instances(APP)
        by_id = {i["instanceId"]: i for i in instances}
        check(sorted(by_id) == sorted(ids), f"server lists {APP} instances {sorted(by_id)}, expected {sorted(ids)}")
        for iid, ip, port in INSTANCES:
            inst = by_id[iid or f"{ip}:{APP.lower()}:{port}"]
            check(inst["app"] == APP, f"app is {inst['app']!r}, expected {APP!r}")
            check(inst["status"] == "UP", f"{ip} status {inst['status']}, expected UP")
            check(inst["ipAddr"] == ip and inst["hostName"] == ip, f"addresses of {inst['instanceId']}: {inst}")
            check(inst["port"] == {"$": port, "@enabled": "true"}, f"port of {ip}: {inst['port']}")
            check(inst["leaseInfo"]["durationInSecs"] == 10, f"lease of {ip}: {inst['leaseInfo']}")
            check(inst["metadata"].get("client") == "py-eureka-client", f"metadata of {ip}: {inst['metadata']}")
        log(f"registered {ids}")

        # 2. Heartbeats: the client's heartbeat rounds run and the server's lease is renewed.
        await self.heartbeats_renew(ids, rounds=2)
        await self.dns_answers("py-svc", ips)
        self.mark("py.registered")

        # 3. Discover JS-SVC through each client's own registry (XML full fetch + deltas).
        for n, client in enumerate(self.clients):

            async def discovered(client=client):
                apps = client.applications
                if apps is None:
                    return False, "the client holds no registry (its fetch of /apps/ failed)"
                ups = apps.get_application(PEER_APP).up_instances
                seen = {(i.ipAddr, i.port.port) for i in ups}
                return seen == PEER_INSTANCES, sorted(seen)

            await self.eventually(f"py client {n + 1} discovers the 2 {PEER_APP} instances", discovered)
            # The client's own service-call machinery picks an UP peer instance and builds its URL.
            url = await client.walk_nodes(PEER_APP, "/ping", walker=lambda u: u)
            expected_urls = {f"http://{ip}:{port}/ping" for ip, port in PEER_INSTANCES}
            check(url in expected_urls, f"walk_nodes({PEER_APP}) built {url!r}, expected one of {expected_urls}")

        log(f"discovered {PEER_APP}: {sorted(PEER_INSTANCES)}")
        self.mark("py.discovered")
        await self.wait_marker("js.discovered")
        # ... and through the client library's one-shot XML reads (once js is settled: it
        # deletes and re-registers one of its instances before writing js.discovered).
        app = await eureka_basic.get_application(self.eureka, PEER_APP)
        check(
            {(i.ipAddr, i.port.port) for i in app.up_instances} == PEER_INSTANCES,
            f"eureka_basic.get_application({PEER_APP}) gave {[(i.ipAddr, i.port.port, i.status) for i in app.instances]}",
        )
        vip = await eureka_basic.get_vip(self.eureka, "js-svc")
        vip_seen = {(i.ipAddr, i.port.port) for a in vip.applications for i in a.instances}
        check(vip_seen == PEER_INSTANCES, f"eureka_basic.get_vip(js-svc) gave {sorted(vip_seen)}")
        one = await eureka_basic.get_app_instance(self.eureka, APP, ids[1])
        check(
            one is not None and one.instanceId == ids[1] and one.status == "UP" and one.port.port == 8102,
            f"eureka_basic.get_app_instance({APP}, {ids[1]}) gave {vars(one) if one else None}",
        )

        if self.hold:
            await self.wait_marker("harness.saw-registered")

        # 4. Status override: instance 2 OUT_OF_SERVICE.
        second = self.clients[1]
        await second.guarded(second.status_update, "OUT_OF_SERVICE")
        inst = await self.server_instance(APP, ids[1])
        check(inst is not None, f"{ids[1]} vanished after status_update")
        check(
            inst["status"] == "OUT_OF_SERVICE" and inst["overriddenStatus"] == "OUT_OF_SERVICE",
            f"after status_update(OUT_OF_SERVICE) the server shows status={inst['status']} "
            f"overriddenStatus={inst['overriddenStatus']}",
        )
        await self.dns_answers("py-svc", ips[:1])
        # The override survives heartbeats (and the client's heartbeats now carry status=OUT_OF_SERVICE).
        await self.heartbeats_renew(ids[1:], rounds=2)
        inst = await self.server_instance(APP, ids[1])
        check(inst["status"] == "OUT_OF_SERVICE", f"the override did not survive heartbeats: status={inst['status']}")
        listed = {i["instanceId"]: i["status"] for i in await self.server_instances(APP)}
        check(listed == {ids[0]: "UP", ids[1]: "OUT_OF_SERVICE"}, f"listing after status_update: {listed}")

        async def first_sees_oos():
            a = self.clients[0].applications.get_application(APP)
            seen = {i.instanceId: i.status for i in a.instances}
            return seen == {ids[0]: "UP", ids[1]: "OUT_OF_SERVICE"}, seen

        await self.eventually("py client 1's registry (via /apps/delta) shows instance 2 OUT_OF_SERVICE", first_sees_oos)
        log("OUT_OF_SERVICE is shown by the server, the delta and DNS")
        self.mark("py.oos")
        await self.wait_marker("js.saw-oos")
        if self.hold:
            await self.wait_marker("harness.saw-oos")

        # 5. Remove the override: the next heartbeat gets 404, the client registers again → UP.
        self.phase = "restore"
        await second.guarded(second.delete_status_override)

        async def back_up():
            inst = await self.server_instance(APP, ids[1])
            if inst is None:
                return False, None
            return (inst["status"], inst["overriddenStatus"]) == ("UP", "UNKNOWN"), (
                inst["status"],
                inst["overriddenStatus"],
            )

        await self.eventually(f"{ids[1]} is UP again after delete_status_override", back_up)
        await self.dns_answers("py-svc", ips)
        log("override removed: re-registered UP")
        self.mark("py.restored")
        self.phase = "steady"

        self.mark("py.ready-to-stop")
        # js follows instance 2 back UP before anyone deregisters.
        await self.wait_marker("js.ready-to-stop")
        if self.hold:
            await self.wait_marker("go-stop")

        # 6. Deregister.
        for client, iid in zip(self.clients, ids):
            await client.stop_for_good()
            inst = await self.server_instance(APP, iid)
            check(inst is None, f"{iid} still registered after stop(): {inst and inst['status']}")
        status, _ = await self.http("GET", f"/apps/{APP}")
        check(status == 404, f"GET /apps/{APP} after every instance stopped answered {status}, expected 404")
        await self.dns_answers("py-svc", [])
        # Nothing comes back: give the (fenced) heartbeat threads two more rounds.
        await asyncio.sleep(2.2)
        check(await self.server_instances(APP) == [], f"{APP} registered again after stop()")
        # The only error a client may report: the heartbeat answered 404 after
        # delete_status_override (that is how it learns to register again).
        expected_ip = INSTANCES[1][1]
        unexpected = [
            e for e in self.errors if not (e[0] == "restore" and e[1] == expected_ip and e[2] == "EUREKA_ERROR_STATUS_UPDATE")
        ]
        check(not unexpected, f"the clients reported errors: {unexpected}")
        log("deregistered")
        self.mark("py.stopped")

    async def heartbeats_renew(self, ids, rounds):
        """Waits until every instance's lease was renewed `rounds` more times, as seen by the
        client (its heartbeat rounds) and by the server (lastRenewalTimestamp grows)."""
        clients = [c for c, iid in zip(self.clients, self.ids) if iid in ids]
        start_rounds = [c.heartbeat_rounds for c in clients]
        start_renewal = {}
        for iid in ids:
            inst = await self.server_instance(APP, iid)
            check(inst is not None, f"{iid} is not registered")
            start_renewal[iid] = inst["leaseInfo"]["lastRenewalTimestamp"]

        async def probe():
            observed = {}
            ok = True
            for c, r0, iid in zip(clients, start_rounds, ids):
                inst = await self.server_instance(APP, iid)
                renewal = inst["leaseInfo"]["lastRenewalTimestamp"] if inst else None
                observed[iid] = {"rounds": c.heartbeat_rounds - r0, "lastRenewalTimestamp": renewal}
                ok = ok and c.heartbeat_rounds - r0 >= rounds and renewal is not None
                ok = ok and renewal > start_renewal[iid]
            return ok, observed

        observed = await self.eventually(f"{rounds} heartbeats renew {ids}", probe)
        log(f"heartbeats renewed: {observed}")

    def record_error(self, ip, kind, e):
        self.errors.append((self.phase, ip, kind, repr(e)))
        log(f"client {ip} reported {kind} during {self.phase}: {e!r}")

    @staticmethod
    def client_logger():
        logger = logging.getLogger("py-eureka-client")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[py-eureka-client %(levelname)s] %(message)s"))
        handler.setLevel(logging.ERROR if not os.environ.get("EUREKA_CLIENT_DEBUG") else logging.DEBUG)
        logger.addHandler(handler)
        return logger


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eureka", required=True, help="e.g. http://127.0.0.1:8761/eureka")
    p.add_argument("--dns", required=True, help="rollcall's DNS listener, 127.0.0.1:PORT")
    p.add_argument("--zone", required=True, help="the eureka directive's zone")
    p.add_argument("--sync", required=True, help="directory for the marker files")
    p.add_argument("--hold", action="store_true", help="also wait for the harness's markers")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for each wait")
    args = p.parse_args()
    h = Harness(args)
    try:
        await h.run()
    except Failure as e:
        print(f"FAIL [py]: {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # an unexpected exception is a failure too, with its traceback
        import traceback

        traceback.print_exc()
        print(f"FAIL [py]: unexpected {e!r}", file=sys.stderr, flush=True)
        return 1
    print("OK [py]: 2 PY-SVC instances registered, heartbeated, discovered JS-SVC, "
          "went OUT_OF_SERVICE and back, deregistered", flush=True)
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    # The client's heartbeat threads never end by themselves (daemon threads): leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
